// ws_echo: a WebSocket echo server, and the subject of the RFC 6455 conformance suite.
//
// Shows: Router::websocket on every path ("/{path...}"), a handler that reads with
// receive() and answers with send(), messages up to 16 MiB, a web::Server serving from
// every runtime of an Executor, and a graceful stop on SIGINT/SIGTERM (server.shutdown()
// closes each WebSocket with 1001).
//
//     ws_echo --port 9001 [--threads single|auto|all|N] [--host 127.0.0.1]
//     python3 -m websockets ws://127.0.0.1:9001/    → type a line, get it back
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <dally/dally.hpp>
#include <dally/web/server.hpp>
#include <memory>
#include <string>

namespace {

dally::Task<void> echo(std::shared_ptr<dally::web::WebSocket> ws, dally::web::Request&) {
    for (;;) {
        auto msg = co_await ws->receive();
        if (!msg) co_return;  // closed: the close handshake is already answered
        ws->send(msg->type, std::move(msg->data));
    }
}

dally::Task<void> stop_on_signal(dally::web::Server& server) {
    auto sig = co_await dally::wait_signal({SIGINT, SIGTERM});
    if (sig) std::fprintf(stderr, "ws_echo: signal %d, stopping\n", *sig);
    server.shutdown();
}

int usage(int code) {
    std::fprintf(code == 0 ? stdout : stderr,
                 "usage: ws_echo [--port N] [--threads single|auto|all|N] [--host IP]\n");
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 9001;
    dally::Threading threads = dally::Threading::automatic();
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") return usage(0);
        if (i + 1 >= argc) return usage(2);
        const char* value = argv[++i];
        if (arg == "--port")
            port = std::atoi(value);
        else if (arg == "--threads" && dally::Threading::parse(value))
            threads = *dally::Threading::parse(value);
        else if (arg == "--host")
            host = value;
        else
            return usage(2);
    }
    auto addr = dally::Address::ip(host, static_cast<std::uint16_t>(port));
    if (!addr) {
        std::fprintf(stderr, "ws_echo: bad --host %s\n", host.c_str());
        return 2;
    }

    dally::web::Router router;
    router.websocket("/{path...}", {.max_message_bytes = 16u << 20}, echo);
    dally::web::Server server(std::move(router));
    if (auto bound = server.listen(*addr); !bound) {
        std::fprintf(stderr, "ws_echo: cannot listen on %s: %s\n", addr->to_string().c_str(),
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
