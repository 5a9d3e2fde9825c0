// node.hpp: `build_runner node-run`, the program a Slurm job runs on its node (node.cpp).
#pragma once

namespace br {

// Reads the job on stdin, runs it, prints its output on stdout and its outcome on stderr.
// Returns the process's exit status (0 whenever an outcome was printed).
int node_main();

}  // namespace br
