// cli.hpp: the build_runner command-line client: `build_runner submit|status|logs|cancel|
// retry|help ...` talks to a running server over its HTTP API (docs/build-runner-api.md)
// and prints plain, aligned text (colours only on a terminal without NO_COLOR).
//
//     build_runner submit hello ./examples/packages/hello --wait
//     build_runner status 3
//     build_runner logs 12 --follow
//
// Exit status: 0 success (`submit --wait`: every build passed, or was cached from a pass);
// 1 a build did not pass; 2 a usage error; 3 the server could not be reached or refused
// the request (its JSON error is printed).
#pragma once

#include <string_view>

namespace br {

// True if `arg` (argv[1]) names a client command rather than the server's `serve`.
bool is_cli_command(std::string_view arg) noexcept;

// Runs the command in argv[1] with the options after it; returns the exit status. Prints to
// stdout and stderr; never throws.
int cli_main(int argc, char** argv);

}  // namespace br
