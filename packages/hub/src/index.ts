/** @tether/hub — see package.json description. */
export {}
