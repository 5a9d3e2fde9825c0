// echo_server: a TCP echo server with an accept loop on every runtime.
//
// Shows: Executor threading modes, one SO_REUSEPORT listener per runtime (multishot
// accept), a detached session task per connection, and a clean stop on SIGINT/SIGTERM
// (wait_signal in a task, then Executor::stop, which cancels the accept loops and
// sessions and closes their sockets).
//
//     echo_server --port 7000 [--threads single|auto|all|N] [--host 127.0.0.1]
#include <dally/dally.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

dally::Task<void> session(dally::TcpStream conn) {
    (void)conn.set_nodelay(true);
    char buf[16384];
    for (;;) {
        auto n = co_await conn.recv(buf);
        if (!n || *n == 0) co_return;  // error or peer closed
        auto sent = co_await conn.send_all(std::span<const char>(buf, *n));
        if (!sent) co_return;
    }
}

dally::Task<void> accept_loop(dally::TcpListener listener) {
    for (;;) {
        auto conn = co_await listener.accept();
        if (!conn) {
            if (conn.cancelled()) co_return;
            std::fprintf(stderr, "echo_server: accept: %s\n", conn.error().message().c_str());
            continue;
        }
        (void)dally::spawn(session(std::move(*conn)));
    }
}

// Stops the whole executor on Ctrl-C or SIGTERM: the accept loops and sessions are
// cancelled and their sockets closed.
dally::Task<void> stop_on_signal(dally::Executor& ex) {
    auto sig = co_await dally::wait_signal({SIGINT, SIGTERM});
    if (sig) std::printf("echo_server: signal %d, stopping\n", *sig);
    ex.stop();
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    int port = 7000;
    dally::Threading threads = dally::Threading::automatic();
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
        else if (std::strcmp(argv[i], "--threads") == 0 && dally::Threading::parse(argv[i + 1]))
            threads = *dally::Threading::parse(argv[i + 1]);
        else if (std::strcmp(argv[i], "--host") == 0) host = argv[i + 1];
        else {
            std::fprintf(stderr, "usage: echo_server [--port N] [--threads single|auto|all|N] [--host IP]\n");
            return 2;
        }
    }
    auto addr = dally::Address::ip(host, static_cast<std::uint16_t>(port));
    if (!addr) {
        std::fprintf(stderr, "echo_server: bad --host %s\n", host.c_str());
        return 2;
    }

    dally::Executor ex({.threading = threads});
    std::atomic<bool> failed{false};
    ex.run([&](dally::Runtime& rt) -> dally::Task<void> {
        auto listener = dally::TcpListener::bind(*addr, {.reuse_port = true});
        if (!listener) {
            std::fprintf(stderr, "echo_server: cannot listen on %s: %s\n",
                         addr->to_string().c_str(), listener.error().message().c_str());
            failed = true;
            ex.stop();
            co_return;
        }
        if (&rt == &ex.runtime(0)) {
            (void)dally::spawn(stop_on_signal(ex));
            std::printf("echo_server: listening on %s with %zu runtime(s), backend %s\n",
                        addr->to_string().c_str(), ex.size(), rt.backend_name());
            std::fflush(stdout);
        }
        co_await accept_loop(std::move(*listener));
    });
    std::printf("echo_server: stopped\n");
    return failed ? 1 : 0;
}
