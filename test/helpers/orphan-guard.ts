/**
 * Preloaded (`node --import`) into the closeloop processes a test spawns: when the test process dies without
 * cleaning up (killed, timed out), its end of our stdin pipe closes and we exit instead of living on as an
 * orphan holding ports and database connections.
 */
process.stdin.on('end', () => process.exit(1))
process.stdin.on('error', () => process.exit(1))
process.stdin.resume()
