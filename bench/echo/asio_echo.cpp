// asio_echo: a TCP echo server on Boost.Asio with C++20 coroutines (epoll underneath), the
// conventional-runtime peer in bench/echo/run.sh. One io_context on one thread; each
// connection is a coroutine that reads into its own 64 KiB buffer and writes back what it read.
//
//   asio_echo --port N      (listens on 127.0.0.1:N; stops on SIGINT or SIGTERM)

#define BOOST_ASIO_NO_DEPRECATED
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string_view>

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr std::size_t buffer_size = 64 * 1024;

asio::awaitable<void> echo(tcp::socket socket) {
    auto buf = std::make_unique_for_overwrite<char[]>(buffer_size);
    boost::system::error_code ec;
    // redirect_error keeps end-of-stream off the exception path.
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    for (;;) {
        std::size_t n =
            co_await socket.async_read_some(asio::buffer(buf.get(), buffer_size), token);
        if (ec) co_return;
        co_await asio::async_write(socket, asio::buffer(buf.get(), n), token);
        if (ec) co_return;
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor) {
    boost::system::error_code ec;
    for (;;) {
        tcp::socket socket =
            co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) {
            std::fprintf(stderr, "asio_echo: accept: %s\n", ec.message().c_str());
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        co_spawn(acceptor.get_executor(), echo(std::move(socket)), asio::detached);
    }
}

int parse_port(int argc, char** argv) {
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            port = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: asio_echo --port N\n");
            std::exit(2);
        }
    }
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "usage: asio_echo --port N  (1..65535)\n");
        std::exit(2);
    }
    return port;
}

}  // namespace

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    try {
        asio::io_context ctx(1);  // concurrency hint: run by one thread
        tcp::acceptor acceptor(
            ctx, tcp::endpoint(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port)),
            /*reuse_addr=*/true);
        asio::signal_set signals(ctx, SIGINT, SIGTERM);
        signals.async_wait([&](const boost::system::error_code&, int) { ctx.stop(); });
        co_spawn(ctx, listen(acceptor), asio::detached);
        ctx.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "asio_echo: %s\n", e.what());
        return 1;
    }
    return 0;
}
