// http_hello: the smallest dally::web server, and the HTTP benchmark's subject.
//
// Shows: a Router with one route, a web::Server listening once and serving from every
// runtime of an Executor, and a graceful stop on SIGINT/SIGTERM (server.shutdown(): idle
// connections close, requests in flight finish).
//
//     http_hello --port 8080 [--threads single|auto|all|N] [--host 127.0.0.1]
//                [--header-timeout-ms N] [--idle-timeout-ms N]
//     curl http://127.0.0.1:8080/        → Hello, World!
#include <dally/dally.hpp>
#include <dally/web/server.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

dally::Task<void> stop_on_signal(dally::web::Server& server) {
    auto sig = co_await dally::wait_signal({SIGINT, SIGTERM});
    if (sig) std::fprintf(stderr, "http_hello: signal %d, stopping\n", *sig);
    server.shutdown();
}

int usage(int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: http_hello [--port N] [--threads single|auto|all|N] [--host IP]\n"
                 "                  [--header-timeout-ms N] [--idle-timeout-ms N]\n");
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 8080;
    dally::Threading threads = dally::Threading::automatic();
    dally::web::ServerOptions options;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") return usage(0);
        if (i + 1 >= argc) return usage(2);
        const char* value = argv[++i];
        if (arg == "--port") port = std::atoi(value);
        else if (arg == "--threads" && dally::Threading::parse(value)) threads = *dally::Threading::parse(value);
        else if (arg == "--host") host = value;
        else if (arg == "--header-timeout-ms") options.header_timeout = std::chrono::milliseconds(std::atoi(value));
        else if (arg == "--idle-timeout-ms") options.idle_timeout = std::chrono::milliseconds(std::atoi(value));
        else return usage(2);
    }
    auto addr = dally::Address::ip(host, static_cast<std::uint16_t>(port));
    if (!addr) {
        std::fprintf(stderr, "http_hello: bad --host %s\n", host.c_str());
        return 2;
    }

    dally::web::Router router;
    router.get("/", [](dally::web::Request&) -> dally::Task<dally::web::Response> {
        co_return dally::web::Response::text(200, "Hello, World!");
    });
    dally::web::Server server(std::move(router), options);
    if (auto bound = server.listen(*addr); !bound) {
        std::fprintf(stderr, "http_hello: cannot listen on %s: %s\n", addr->to_string().c_str(),
                     bound.error().message().c_str());
        return 1;
    }

    dally::Executor ex({.threading = threads});
    ex.run([&](dally::Runtime& rt) -> dally::Task<void> {
        if (&rt != &ex.runtime(0)) co_return co_await server.serve();
        auto stopper = rt.spawn(stop_on_signal(server));
        std::printf("listening on %s:%u\n", host.c_str(), server.port());
        std::fflush(stdout);
        co_await server.serve();
        stopper.cancel();
        co_await stopper;
    });
    return 0;
}
