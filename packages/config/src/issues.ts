/** Problems found in a configuration file, each at a key path, collected rather than thrown one by one. */

/** One problem at a key path such as `rule[1].max_lease` or `line 3, column 7`. */
export interface ConfigIssue {
  readonly path: string
  /** What is wrong and how to fix it. */
  readonly message: string
}

export class IssueList {
  readonly issues: ConfigIssue[] = []

  add(path: string, message: string): void {
    this.issues.push({ path, message })
  }
}

/**
 * The message for a file's problems: `FILE: PATH: message` for one, else a count and one such line
 * per problem. Each package wraps it in its own error class and code.
 */
export function formatIssues(file: string, issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `${file}: ${i.path}: ${i.message}`)
  return issues.length === 1 ? lines[0]! : `${file}: ${issues.length} problems:\n  ${lines.join('\n  ')}`
}
