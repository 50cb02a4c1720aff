/** Named exit codes, as `gh` does: scripts can tell these apart. */
export const ExitCode = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Thrown by commands to end with a specific code after printing `message` to stderr. */
export class CliExit extends Error {
  constructor(
    readonly exitCode: ExitCodeValue,
    message: string,
    /** The API's HTTP status, when the API refused the request. */
    readonly httpStatus?: number,
  ) {
    super(message);
  }
}
