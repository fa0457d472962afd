/** @tether/directory — see package.json description. */
export {}
