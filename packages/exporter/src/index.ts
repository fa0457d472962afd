/** @tether/exporter — see package.json description. */
export {}
