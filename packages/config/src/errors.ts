/**
 * Why a protected file could not be read or written, in a neutral form: each package maps it to
 * its own error class, code and wording (`problem`, `path` and the fields of that problem).
 */

export type ConfigFileProblem =
  /** The operation failed (`action`, `errno`, `cause`). */
  | 'io'
  /** A directory, device, socket or pipe stands at the path. */
  | 'not-a-file'
  /** Group or others may read or write it (`mode`, `fix`). */
  | 'permissions'
  /** Another user owns it (`uid`). */
  | 'owner'
  /** Larger than the caller's limit (`size`). */
  | 'too-large'

export type ConfigFileAction = 'stat' | 'read' | 'write'

export class ConfigFileError extends Error {
  readonly problem: ConfigFileProblem
  readonly path: string
  /** io: what failed. */
  readonly action?: ConfigFileAction
  /** io: the errno code (ENOENT, EACCES, ...), when there is one. */
  readonly errno?: string
  /** permissions: the file's permission bits (0o644). */
  readonly mode?: number
  /** permissions: the command that repairs it, with the path (`chmod 600 /x`). */
  readonly fix?: string
  /** owner: the owning uid. */
  readonly uid?: number
  /** too-large: the file's size in bytes. */
  readonly size?: number

  constructor(
    problem: ConfigFileProblem,
    path: string,
    message: string,
    fields: {
      action?: ConfigFileAction
      errno?: string
      mode?: number
      fix?: string
      uid?: number
      size?: number
      cause?: unknown
    } = {},
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause })
    this.name = 'ConfigFileError'
    this.problem = problem
    this.path = path
    this.action = fields.action
    this.errno = fields.errno
    this.mode = fields.mode
    this.fix = fields.fix
    this.uid = fields.uid
    this.size = fields.size
  }
}

/** `0644`: permission bits as chmod takes them. */
export function octalMode(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0')
}

export function ioError(path: string, action: ConfigFileAction, cause: unknown): ConfigFileError {
  const errno = (cause as NodeJS.ErrnoException).code
  return new ConfigFileError('io', path, `cannot ${action} ${path}: ${errno ?? String(cause)}`, {
    action,
    errno,
    cause,
  })
}
