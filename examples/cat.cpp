// cat: concatenates files to standard output through the ring, like coreutils `cat`
// without options.
//
// Shows: File::open, streaming read() until 0 (end of file), and write_all() to stdout at
// its current position (a pipe, a terminal or a file), all as io_uring operations. Errors
// are values: a missing file is reported and the rest are still copied (exit status 1).
//
//     cat FILE...          ("-" or no FILE reads standard input)
#include <unistd.h>

#include <array>
#include <cstdio>
#include <dally/dally.hpp>
#include <string>
#include <vector>

namespace {

// Copies `in` to `out` until end of file; false (after a message) on an error.
dally::Task<bool> copy(dally::File& in, dally::File& out, const std::string& name) {
    std::vector<char> buf(128 * 1024);
    for (;;) {
        auto n = co_await in.read(std::span<char>(buf));
        if (!n) {
            std::fprintf(stderr, "cat: %s: %s\n", name.c_str(), n.error().message().c_str());
            co_return false;
        }
        if (*n == 0) co_return true;
        auto w = co_await out.write_all(std::span<const char>(buf.data(), *n));
        if (!w) {
            std::fprintf(stderr, "cat: write error: %s\n", w.error().message().c_str());
            co_return false;
        }
    }
}

dally::Task<int> cat(std::vector<std::string> names) {
    if (names.empty()) names.emplace_back("-");
    dally::File out(STDOUT_FILENO);
    int status = 0;
    for (const auto& name : names) {
        if (name == "-") {
            dally::File in(STDIN_FILENO);
            if (!co_await copy(in, out, name)) status = 1;
            (void)in.release();  // stdin stays open for a later "-"
            continue;
        }
        auto in = co_await dally::File::open(name);
        if (!in) {
            std::fprintf(stderr, "cat: %s: %s\n", name.c_str(), in.error().message().c_str());
            status = 1;
            continue;
        }
        if (!co_await copy(*in, out, name)) status = 1;
    }
    (void)out.release();
    co_return status;
}

}  // namespace

int main(int argc, char** argv) {
    dally::Runtime rt;
    return rt.block_on(cat(std::vector<std::string>(argv + 1, argv + argc)));
}
