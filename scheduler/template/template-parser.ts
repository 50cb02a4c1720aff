/**
 * Recursive-descent parser for OpenNebula template syntax, producing the
 * neutral RawTemplate. Grammar (newlines are significant only at top level):
 *
 *   template  := { NEWLINE } { attribute ( NEWLINE { NEWLINE } | EOF ) }
 *   attribute := KEY "=" ( value | "[" [ pair { "," pair } [ "," ] ] "]" )
 *   pair      := KEY "=" value
 *   value     := STRING | WORD
 *
 * Only syntax is checked here; what attributes mean is build-spec.ts's job.
 */
import { ValidationError, quoted } from '../../common/index.js';
import { isValidKey, type RawAttribute, type RawPair, type RawScalar, type RawTemplate } from './raw-template.js';
import { describeToken, syntaxLocation, tokenize, type Token } from './tokenizer.js';

export function parseRawTemplate(text: string, file?: string): RawTemplate {
  return new TemplateParser(tokenize(text, file), file).parse();
}

class TemplateParser {
  private at = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly file: string | undefined,
  ) {}

  parse(): RawTemplate {
    const attributes: RawAttribute[] = [];
    for (;;) {
      this.skipNewlines();
      if (this.peek().type === 'eof') break;
      const attr = this.attribute();
      attributes.push(attr);
      // One attribute per line: `NAME = my vm` is far more often a missing
      // pair of quotes than two attributes, so say so instead of guessing.
      const after = this.peek();
      if (after.type !== 'newline' && after.type !== 'eof') {
        const what = attr.value.kind === 'vector' ? `the closing "]" of ${attr.key}` : `the value of ${attr.key}`;
        throw this.error(after, `unexpected ${describeToken(after)} after ${what}; quote values that contain spaces`);
      }
    }
    return { source: 'template', file: this.file, attributes };
  }

  private attribute(): RawAttribute {
    const keyTok = this.next();
    const key = this.key(keyTok, 'an attribute name');
    const eq = this.next();
    if (eq.type !== '=') throw this.error(eq, `expected "=" after ${key}, got ${describeToken(eq)}`);
    const v = this.peek();
    const keyPos = this.pos(keyTok);
    if (v.type === '[') {
      this.next();
      return { key, keyPos, value: { kind: 'vector', entries: this.vectorBody(key, v), pos: this.pos(v) } };
    }
    if (v.type === 'word' || v.type === 'string') {
      this.next();
      return { key, keyPos, value: this.scalar(v) };
    }
    throw this.error(v, `expected a value or "[" after "${key} =", got ${describeToken(v)}`);
  }

  private vectorBody(vector: string, open: Token): RawPair[] {
    const entries: RawPair[] = [];
    const seen = new Map<string, Token>();
    const opened = `(opened at line ${open.line}, column ${open.column})`;
    for (;;) {
      this.skipNewlines();
      const t = this.peek();
      if (t.type === ']') {
        this.next();
        return entries;
      }
      if (t.type === 'eof') throw this.error(t, `expected "]" to close ${vector} ${opened}`);
      if (t.type === '[') throw this.error(t, `unexpected "[" in ${vector}: vectors cannot be nested`);
      this.next();
      const key = this.key(t, `an attribute name or "]" in ${vector}`);
      const first = seen.get(key);
      if (first) {
        throw this.error(t, `${key} given twice in ${vector} (first at line ${first.line}, column ${first.column})`);
      }
      seen.set(key, t);
      this.skipNewlines();
      const eq = this.next();
      if (eq.type !== '=') throw this.error(eq, `expected "=" after ${key} in ${vector}, got ${describeToken(eq)}`);
      this.skipNewlines();
      const v = this.next();
      if (v.type !== 'word' && v.type !== 'string') {
        throw this.error(v, `expected a value after "${key} =" in ${vector}, got ${describeToken(v)}`);
      }
      entries.push({ key, keyPos: this.pos(t), value: this.scalar(v) });
      this.skipNewlines();
      const sep = this.next();
      if (sep.type === ']') return entries;
      if (sep.type === ',') continue;
      if (sep.type === 'eof') throw this.error(sep, `expected "]" to close ${vector} ${opened}`);
      throw this.error(sep, `expected "," or "]" to close ${vector} ${opened}, got ${describeToken(sep)}`);
    }
  }

  /** Validates a key token and normalises it to upper case (keys are case-insensitive). */
  private key(t: Token, expected: string): string {
    if (t.type !== 'word') throw this.error(t, `expected ${expected}, got ${describeToken(t)}`);
    if (!isValidKey(t.text)) {
      throw this.error(t, `invalid attribute name ${quoted(t.text)}: use letters, digits and "_", not starting with a digit`);
    }
    return t.text.toUpperCase();
  }

  private scalar(t: Token): RawScalar {
    const verbatimColumn = t.type === 'word' ? t.column : t.verbatim ? t.column + 1 : undefined;
    return { kind: 'scalar', value: t.text, pos: this.pos(t), verbatimColumn };
  }

  private skipNewlines(): void {
    while (this.tokens[this.at]!.type === 'newline') this.at++;
  }

  private peek(): Token {
    return this.tokens[this.at]!;
  }

  private next(): Token {
    const t = this.tokens[this.at]!;
    // eof is sticky so lookahead past the end never reads undefined.
    if (t.type !== 'eof') this.at++;
    return t;
  }

  private pos(t: Token) {
    return { line: t.line, column: t.column };
  }

  private error(t: Token, reason: string): ValidationError {
    return new ValidationError(reason, syntaxLocation(this.file, t.line, t.column));
  }
}
