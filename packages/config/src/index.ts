export { type ConfigFileAction, ConfigFileError, type ConfigFileProblem, octalMode } from './errors.js'
export {
  createProtectedFile,
  ensurePrivateDir,
  type ReadProtectedOptions,
  readProtectedFile,
  replaceProtectedFile,
} from './files.js'
export { type ConfigIssue, formatIssues, IssueList } from './issues.js'
export { closestMatch, editDistance } from './suggest.js'
export {
  describeValue,
  isTable,
  joinPath,
  parseTomlTable,
  type StringArrayRule,
  type StringRule,
  TableReader,
  type TomlTable,
} from './toml.js'
