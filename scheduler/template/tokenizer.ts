/**
 * Tokenizer for OpenNebula template syntax. It tracks line and column
 * (1-based, columns in UTF-16 code units, a tab counts as one) so every
 * syntax error the parser raises can point at the exact spot.
 */
import { ValidationError, quoted, type InputLocation } from '../../common/index.js';

export type TokenType = 'word' | 'string' | '=' | '[' | ']' | ',' | 'newline' | 'eof';

export interface Token {
  type: TokenType;
  /** Unquoted text for words, unescaped content for strings, the symbol otherwise. */
  text: string;
  line: number;
  column: number;
  /** Strings only: no escape and no line break inside, so text maps 1:1 onto columns. */
  verbatim?: boolean;
}

const NEWLINE = 10;
const CR = 13;
const QUOTE = 34;
const HASH = 35;
const BACKSLASH = 92;

function isBlank(c: number): boolean {
  // \r is blank so CRLF files behave like LF files; \n is a token.
  return c === 32 || c === 9 || c === CR || c === 11 || c === 12;
}

/** Characters that end an unquoted word: blanks, line breaks, quotes, comments and syntax. */
function endsWord(c: number): boolean {
  return isBlank(c) || c === NEWLINE || c === QUOTE || c === HASH || c === 61 /* = */ ||
    c === 91 /* [ */ || c === 93 /* ] */ || c === 44 /* , */;
}

export function tokenize(text: string, file?: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const col = (at: number) => at - lineStart + 1;

  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (isBlank(c)) {
      i++;
    } else if (c === NEWLINE) {
      tokens.push({ type: 'newline', text: '\n', line, column: col(i) });
      i++;
      line++;
      lineStart = i;
    } else if (c === HASH) {
      // A comment runs to the end of the line; the line break stays a token.
      while (i < text.length && text.charCodeAt(i) !== NEWLINE) i++;
    } else if (c === QUOTE) {
      const startLine = line;
      const startColumn = col(i);
      let value = '';
      let verbatim = true;
      let closed = false;
      i++;
      while (i < text.length) {
        const d = text.charCodeAt(i);
        if (d === QUOTE) {
          closed = true;
          i++;
          break;
        }
        if (d === BACKSLASH && i + 1 < text.length) {
          const e = text.charCodeAt(i + 1);
          // Only \" and \\ are escapes; any other backslash is kept as written
          // (Windows paths, regexes in CEL selectors).
          if (e === QUOTE || e === BACKSLASH) {
            value += text[i + 1];
            verbatim = false;
            i += 2;
            continue;
          }
        }
        if (d === NEWLINE) {
          // Multi-line values are legal (scripts in CONTEXT); keep counting lines.
          verbatim = false;
          line++;
          lineStart = i + 1;
        }
        value += text[i];
        i++;
      }
      if (!closed) {
        throw new ValidationError('unterminated string: missing closing \'"\'', syntaxLocation(file, startLine, startColumn));
      }
      tokens.push({ type: 'string', text: value, line: startLine, column: startColumn, verbatim });
    } else if (c === 61 || c === 91 || c === 93 || c === 44) {
      tokens.push({ type: text[i] as TokenType, text: text[i]!, line, column: col(i) });
      i++;
    } else {
      const start = i;
      while (i < text.length && !endsWord(text.charCodeAt(i))) i++;
      tokens.push({ type: 'word', text: text.slice(start, i), line, column: col(start) });
    }
  }
  tokens.push({ type: 'eof', text: '', line, column: col(i) });
  return tokens;
}

/** How a token reads in an error message. */
export function describeToken(t: Token): string {
  switch (t.type) {
    case 'eof':
      return 'end of input';
    case 'newline':
      return 'end of line';
    default:
      return quoted(t.text);
  }
}

/** A syntax error's location; `file` only when known, so locations compare cleanly. */
export function syntaxLocation(file: string | undefined, line: number, column: number): InputLocation {
  return file === undefined ? { line, column } : { file, line, column };
}
