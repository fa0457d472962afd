/** @tether/agent — see package.json description. */
export {}
