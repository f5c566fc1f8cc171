import AphexCLI

// Every command lives in AphexCLI; this executable only starts the root command (exit codes
// and Ctrl-C handling: `Aphex.runAsMain`).
await Aphex.runAsMain()
