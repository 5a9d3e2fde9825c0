// sandbox_overhead: what the bubblewrap sandbox adds to a build of build_runner's local
// executor. The same trivial package is built N times directly (LocalExecutorOptions::
// no_sandbox) and N times in the sandbox, alternating, for two steps: `true` and a small
// `gcc -c hello.c`. A build is everything run() does: workspace, fetch (file:// URL), the
// step, clean-up. Prints per-build mean/p50/p99 for both and the difference (target: the
// sandbox adds <= 30 ms per build). Run as root for the production setting (per-slot uid,
// cgroup); the machine's enforcement is printed first.
//
//     br_sandbox_overhead [builds]        (default 40 per side and step)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dally/runtime.hpp>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "executor.hpp"

namespace {

namespace fs = std::filesystem;
using Ms = std::chrono::duration<double, std::milli>;

// Discards what the build says; a failed build stops the benchmark.
class NullSink : public br::BuildSink {
  public:
    void phase(br::BuildState) override {}
    void output(std::string_view) override {}
};

struct Stats {
    double mean, p50, p99;
};

Stats stats(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        return v[std::min(v.size() - 1,
                          static_cast<std::size_t>(q * static_cast<double>(v.size())))];
    };
    return {std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()), at(0.5),
            at(0.99)};
}

dally::Task<double> one_build(br::BuildExecutor& ex, const br::BuildJob& job) {
    NullSink sink;
    dally::Event cancel;
    const auto t0 = std::chrono::steady_clock::now();
    const auto o = co_await ex.run(job, sink, cancel);
    const double ms = Ms(std::chrono::steady_clock::now() - t0).count();
    if (o.state != br::BuildState::passed) {
        std::fprintf(stderr, "build failed: %s %s\n", std::string(br::to_string(o.state)).c_str(),
                     o.reason.c_str());
        std::exit(1);
    }
    co_return ms;
}

int run_shell(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::max(1, std::atoi(argv[1])) : 40;
    char tmpl[] = "/tmp/br-sandbox-overhead-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return 1;
    const fs::path dir = tmpl;
    ::chmod(tmpl, 0755);  // the build uids read the repository and reach the workspaces
    fs::create_directories(dir / "repo");
    fs::create_directories(dir / "ws");
    std::ofstream(dir / "repo" / "hello.c")
        << "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n";
    if (run_shell(
            "cd " + (dir / "repo").string() +
            " && git init -q && git add -A && git -c user.name=b -c user.email=b@b commit -qm 1") !=
        0) {
        return 1;
    }
    std::string commit;
    if (FILE* p = ::popen(("git -C " + (dir / "repo").string() + " rev-parse HEAD").c_str(), "r")) {
        char buf[128];
        if (std::fgets(buf, sizeof buf, p) != nullptr) commit.assign(buf, 40);
        ::pclose(p);
    }

    auto sandboxed = br::make_local_executor({});
    auto direct = br::make_local_executor({.no_sandbox = true});
    const auto e = sandboxed->enforcement();
    std::printf("sandbox_overhead: %d builds per side and step, uid %s, cgroup %s%s%s\n", n,
                ::geteuid() == 0 ? "per slot" : "own", e.cgroup.empty() ? "none" : e.cgroup.c_str(),
                e.note.empty() ? "" : "; ", e.note.c_str());

    dally::Runtime rt;
    double worst = 0;
    for (const auto& [label, run] : std::vector<std::pair<std::string, std::string>>{
             {"true", "true"}, {"gcc -c hello.c", "gcc -c hello.c"}}) {
        br::Toolchain tc;
        tc.name = "bench";
        tc.steps = {{"step", run}};
        br::BuildJob job{.build_id = 1,
                         .package = "bench",
                         .repo_url = "file://" + (dir / "repo").string(),
                         .commit = commit,
                         .toolchain = &tc,
                         .workspace = dir / "ws" / "0",
                         .slot = 0};
        std::vector<double> with, without;
        rt.block_on(one_build(*sandboxed, job));  // warm caches (page cache, git, gcc)
        rt.block_on(one_build(*direct, job));
        for (int i = 0; i < n; ++i) {
            with.push_back(rt.block_on(one_build(*sandboxed, job)));
            without.push_back(rt.block_on(one_build(*direct, job)));
        }
        const Stats s = stats(with), d = stats(without);
        std::printf("\nstep `%s` (per build, ms)   mean     p50     p99\n", label.c_str());
        std::printf("  direct (no_sandbox)       %7.1f %7.1f %7.1f\n", d.mean, d.p50, d.p99);
        std::printf("  sandboxed (bubblewrap)    %7.1f %7.1f %7.1f\n", s.mean, s.p50, s.p99);
        std::printf("  sandbox overhead          %7.1f %7.1f %7.1f\n", s.mean - d.mean,
                    s.p50 - d.p50, s.p99 - d.p99);
        worst = std::max(worst, s.mean - d.mean);
    }
    std::printf("\nsandbox overhead per build (mean, worst step): %.1f ms: %s (target <= 30 ms)\n",
                worst, worst <= 30 ? "PASS" : "MISS");
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 0;
}
