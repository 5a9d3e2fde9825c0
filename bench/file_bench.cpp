// file_bench: read throughput of a 1 GiB file through dally vs `cat FILE > /dev/null`.
//
// Creates a 1 GiB file in $TMPDIR (or /tmp), reads it once to put it in the page cache,
// then times, best of 3 runs each:
//   - cat:            `cat FILE > /dev/null` as a child process (fork + exec included);
//   - dally cat:      examples/cat's loop: read 128 KiB then write it to /dev/null, one
//                     operation in flight (coreutils cat's own buffer size);
//   - dally read_at:  read_at with LANES reads of BLOCK_KIB in flight (default 4 x 256 KiB,
//                     small enough to stay in cache like cat's buffer), data not written.
// The comparison is page-cache-hot: dropping the cache needs privileges, so both sides
// measure copying from the cache, not the disk. Deletes the file at the end.
//
//     bench_file [SIZE_MIB [BLOCK_KIB [LANES]]]        (default 1024 256 4)
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dally/dally.hpp>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Seconds = std::chrono::duration<double>;

std::string temp_dir() {
    const char* t = std::getenv("TMPDIR");
    return (t != nullptr && *t != '\0') ? t : "/tmp";
}

// The test file; unlinked when it goes out of scope.
struct TempFile {
    std::string path;
    ~TempFile() {
        if (!path.empty()) ::unlink(path.c_str());
    }
};

bool fill(const std::string& path, std::size_t bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    std::vector<char> chunk(8 << 20);
    for (std::size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(i * 31 + i / 4096);
    std::size_t left = bytes;
    while (left > 0) {
        ssize_t n = ::write(fd, chunk.data(), std::min(left, chunk.size()));
        if (n <= 0) {
            ::close(fd);
            return false;
        }
        left -= static_cast<std::size_t>(n);
    }
    return ::close(fd) == 0;
}

// Runs `cat path > /dev/null`; the wall time including process start, or negative on failure.
double time_cat(const std::string& path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    std::string p = path;
    char cat[] = "cat";
    char* argv[] = {cat, p.data(), nullptr};
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, "cat", &fa, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return Seconds(std::chrono::steady_clock::now() - t0).count();
}

// examples/cat's approach: one read, then one write of what was read, to /dev/null.
dally::Task<std::size_t> dally_cat(std::string path) {
    auto in = co_await dally::File::open(path);
    auto out = co_await dally::File::open("/dev/null", {.read = false, .write = true});
    if (!in || !out) co_return 0;
    std::vector<char> buf(128 * 1024);
    std::size_t total = 0;
    for (;;) {
        auto n = co_await in->read(std::span<char>(buf));
        if (!n || *n == 0) break;
        if (!co_await out->write_all(std::span<const char>(buf.data(), *n))) break;
        total += *n;
    }
    co_return total;
}

// One of `lanes` readers: reads blocks lane, lane + lanes, ... of `block` bytes.
dally::Task<std::size_t> lane_reader(dally::File& f, std::size_t lane, std::size_t lanes,
                                     std::size_t block, std::size_t size) {
    std::vector<std::byte> buf(block);
    std::size_t total = 0;
    for (std::size_t off = lane * block; off < size; off += lanes * block) {
        auto n = co_await f.read_at(std::span<std::byte>(buf), off);
        if (!n || *n == 0) break;
        total += *n;
    }
    co_return total;
}

dally::Task<std::size_t> dally_parallel(std::string path, std::size_t size, std::size_t block,
                                        std::size_t lanes) {
    auto f = co_await dally::File::open(path);
    if (!f) co_return 0;
    std::vector<dally::JoinHandle<std::size_t>> hs;
    for (std::size_t i = 0; i < lanes; ++i)
        hs.push_back(dally::spawn(lane_reader(*f, i, lanes, block, size)));
    std::size_t total = 0;
    for (auto& h : hs) total += co_await h;
    co_return total;
}

template <class F>
double best_of_3(F&& run_once) {
    double best = 1e300;
    for (int i = 0; i < 3; ++i) {
        double s = run_once();
        if (s < 0) return -1;
        best = std::min(best, s);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
    const std::size_t size = mib << 20;
    const std::size_t block_kib = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
    const std::size_t lanes = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 4;
    if (mib == 0 || block_kib == 0 || lanes == 0) {
        std::fprintf(stderr, "usage: bench_file [SIZE_MIB [BLOCK_KIB [LANES]]]\n");
        return 2;
    }
    TempFile file{temp_dir() + "/dally-file-bench-XXXXXX"};
    int fd = ::mkstemp(file.path.data());
    if (fd < 0) {
        std::perror("mkstemp");
        file.path.clear();
        return 1;
    }
    ::close(fd);
    if (!fill(file.path, size)) {
        std::fprintf(stderr, "could not write %zu MiB to %s\n", mib, file.path.c_str());
        return 1;
    }
    if (time_cat(file.path) < 0) {  // warms the page cache
        std::fprintf(stderr, "running cat failed\n");
        return 1;
    }

    dally::Runtime rt;
    bool ok = true;
    auto dally_run = [&](auto make_task) {
        return [&, make_task] {
            const auto t0 = std::chrono::steady_clock::now();
            std::size_t n = rt.block_on(make_task());
            if (n != size) ok = false;
            return Seconds(std::chrono::steady_clock::now() - t0).count();
        };
    };
    const double cat_s = best_of_3([&] { return time_cat(file.path); });
    const double seq_s = best_of_3(dally_run([&] { return dally_cat(file.path); }));
    const double par_s = best_of_3(
        dally_run([&] { return dally_parallel(file.path, size, block_kib << 10, lanes); }));
    if (cat_s < 0 || !ok) {
        std::fprintf(stderr, "a run failed (cat %s, dally %s)\n", cat_s < 0 ? "failed" : "ok",
                     ok ? "ok" : "short");
        return 1;
    }
    auto mbps = [&](double s) { return static_cast<double>(size) / 1e6 / s; };
    std::printf("file: %zu MiB in %s, page-cache-hot (best of 3; MB = 10^6 bytes)\n", mib,
                temp_dir().c_str());
    std::printf("%-38s %8.0f MB/s\n", "cat FILE > /dev/null", mbps(cat_s));
    std::printf("%-38s %8.0f MB/s  %.2fx cat\n", "dally cat (128 KiB read+write)", mbps(seq_s),
                cat_s / seq_s);
    const std::string par_name = "dally read_at (" + std::to_string(block_kib) + " KiB, " +
                                 std::to_string(lanes) + " in flight)";
    std::printf("%-38s %8.0f MB/s  %.2fx cat\n", par_name.c_str(), mbps(par_s), cat_s / par_s);
    return 0;
}
