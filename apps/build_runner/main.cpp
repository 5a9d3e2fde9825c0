// build_runner: builds submitted packages across a toolchain matrix in sandboxes.
//
//     build_runner [serve] [--port 8080] [--data-dir br-data] [--config FILE] ...
//     build_runner submit hello ./examples/packages/hello --wait
//     build_runner status | logs <build> [--follow] | cancel <build> | retry <build>
//     build_runner node-run      (what a Slurm job runs on its node; reads the job on stdin)
//
// `serve` (the default) runs the HTTP API, the dashboard and the builds; the other
// commands are the CLI, talking to a running server. See docs/build_runner.md.
#include "api.hpp"
#include "cli.hpp"
#include "config.hpp"
#include "events.hpp"
#include "executor.hpp"
#include "node.hpp"
#include "runner.hpp"
#include "slurm_executor.hpp"
#include "store.hpp"

#include <dally/dally.hpp>
#include <dally/web/server.hpp>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <exception>
#include <string_view>
#include <thread>

namespace {

// Stops on SIGINT/SIGTERM: running builds go back to the queue (Slurm jobs go on, to be
// re-attached at the next start), then the server closes.
dally::Task<void> stop_on_signal(br::Runner& runner, dally::web::Server& server, bool detachable) {
    auto sig = co_await dally::wait_signal({SIGINT, SIGTERM});
    if (!sig) co_return;
    std::printf("build_runner: signal %d: stopping (%s)\n", *sig,
                detachable ? "Slurm jobs go on and are re-attached at the next start"
                           : "running builds go back to the queue");
    std::fflush(stdout);
    co_await runner.shutdown();
    server.shutdown();
}

int serve(int argc, char** argv) {
    br::Config config;
    try {
        config = br::load_config(argc, argv);
    } catch (const br::ConfigError& e) {
        std::fprintf(stderr, "build_runner: %s\n", e.what());
        return 2;
    }
    // Workspaces are bind-mounted into the sandbox by path, and the server's cwd is not the
    // sandbox's: everything below the data directory is addressed absolutely.
    config.data_dir = std::filesystem::absolute(config.data_dir);
    std::error_code mkdir_error;
    std::filesystem::create_directories(config.data_dir, mkdir_error);
    if (mkdir_error) {
        std::fprintf(stderr, "build_runner: cannot create the data directory %s: %s\n", config.data_dir.c_str(),
                     mkdir_error.message().c_str());
        return 1;
    }
    std::string token_note = br::resolve_token(config);
    if (!token_note.empty()) std::printf("%s\n", token_note.c_str());
    if (config.concurrency == 0) config.concurrency = std::max(1u, std::thread::hardware_concurrency());
    if (config.www_dir.empty()) config.www_dir = std::filesystem::path(BR_SHARE_DIR) / "www";
    std::signal(SIGPIPE, SIG_IGN);

    std::unique_ptr<br::Store> store;
    std::unique_ptr<br::BuildExecutor> executor;
    br::LocalExecutorOptions exec_options{.no_sandbox = config.no_sandbox};
    exec_options.scratch_dir = std::filesystem::absolute(config.data_dir / "work");
    std::filesystem::create_directories(exec_options.scratch_dir, mkdir_error);
    try {
        store = std::make_unique<br::Store>(config.data_dir / "build_runner.db",
                                            br::StoreOptions{.sync_full = config.sync_full});
        if (config.executor == "slurm") {
            executor = br::make_slurm_executor(
                {.slurm = config.slurm, .local = exec_options, .state_dir = config.data_dir / "slurm"});
        } else {
            executor = br::make_local_executor(exec_options);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "build_runner: %s\n", e.what());
        return 1;
    }
    br::Enforcement enforcement = executor->enforcement();
    if (!enforcement.note.empty()) std::printf("build_runner: note: %s\n", enforcement.note.c_str());

    br::EventHub hub;
    br::Runner runner(br::RunnerOptions{.data_dir = config.data_dir,
                                        .concurrency = config.concurrency,
                                        .max_attempts = config.max_attempts,
                                        .retry_backoff = config.retry_backoff},
                      config.toolchains, *store, *executor,
                      [exec_options](std::string url, std::string ref, std::chrono::seconds timeout, unsigned slot) {
                          return br::resolve_commit(exec_options, std::move(url), std::move(ref), timeout, slot);
                      },
                      hub);

    dally::Executor ex({.threading = dally::Threading::multi(std::max(1u, config.threads))});
    br::Api api(runner, hub,
                br::ApiOptions{.token = config.token,
                               .public_read = config.public_read,
                               .www_dir = config.www_dir,
                               .enforcement = enforcement});
    dally::web::Router router;
    api.add_routes(router);
    dally::web::Server server(std::move(router), {.max_body_bytes = 64u << 10});
    api.set_server(&server);
    if (auto r = server.listen(dally::Address::ip(config.host, config.port).value()); !r) {
        std::fprintf(stderr, "build_runner: cannot listen on %s:%u: %s\n", config.host.c_str(), config.port,
                     r.error().message().c_str());
        return 1;
    }
    std::printf("build_runner: %zu toolchains, %u builds at once on %s, data in %s\n", config.toolchains.size(),
                config.concurrency, enforcement.executor.c_str(), config.data_dir.c_str());
    std::printf("listening on %s:%u\n", config.host.c_str(), server.port());
    std::fflush(stdout);

    // Runtime 0 hosts the runner; the others serve only once it is attached.
    dally::Event ready;
    ex.run([&](dally::Runtime& rt) -> dally::Task<void> {
        if (&rt != &ex.runtime(0)) {
            (void)co_await ready.wait();
        } else {
            api.attach(rt);
            ready.set();
            runner.start();
            (void)rt.spawn(stop_on_signal(runner, server, executor->detachable()));
        }
        co_await server.serve();
    });
    std::printf("build_runner: stopped\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && br::is_cli_command(argv[1])) return br::cli_main(argc, argv);
    if (argc == 2 && std::string_view(argv[1]) == "node-run") return br::node_main();
    if (argc > 1 && std::string_view(argv[1]) == "serve") {
        // load_config sees the flags after "serve".
        argv[1] = argv[0];
        return serve(argc - 1, argv + 1);
    }
    return serve(argc, argv);
}
