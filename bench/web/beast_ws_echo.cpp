// beast_ws_echo: a WebSocket echo server on Boost.Beast (Asio, epoll underneath), the peer
// dally's examples/ws_echo is compared with in bench/web/ws_bench.sh.
//
// It is structured like Beast's own example/websocket/server/async/websocket_server_async.cpp:
// a listener that accepts and starts a session per connection; each session owns one
// websocket stream and one flat_buffer and runs async_accept, then read -> write (the same
// buffer, same text/binary flag) -> consume -> read. Differences from the example, all in
// Beast's favour or neutral:
//   - one thread and one io_context with concurrency hint 1, and no strands (the example makes
//     a strand per connection so it can run on many threads; with one thread it is pure cost);
//   - the stream's next layer is a plain TCP socket, not beast::tcp_stream: tcp_stream's
//     per-operation timeout bookkeeping cost a few percent more server CPU per message in a quick
//     check and buys nothing here, since the websocket stream's own timeouts (the example's
//     timeout::suggested settings, kept below) work over any next layer;
//   - TCP_NODELAY on every accepted socket (the loadgen sets it on its side too);
//   - no Server header decorator; permessage-deflate is left off (Beast's default, set
//     explicitly below) so no message is compressed;
//   - normal disconnects (EOF, reset, close frame) are not logged.
//
//   beast_ws_echo --port N     (listens on 127.0.0.1:N, prints "listening on 127.0.0.1:N",
//                               exits 0 on SIGINT or SIGTERM)

// clang-format off
#include <utility>  // Boost 1.74's Asio headers use std::exchange without including it.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

// Sockets and acceptor bound to the io_context's own executor type rather than Asio's default
// type-erased any_io_executor, whose copies and destruction on every operation showed in a
// profile at ~5% of the server's CPU.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;

// Disconnects are how every benchmark run ends; anything else is worth a line on stderr.
void report(beast::error_code ec, const char* what) {
    if (ec == websocket::error::closed || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
        ec == asio::error::broken_pipe || ec == beast::error::timeout) {
        return;
    }
    std::fprintf(stderr, "beast_ws_echo: %s: %s\n", what, ec.message().c_str());
}

class Session : public std::enable_shared_from_this<Session> {
  public:
    explicit Session(Socket&& socket) : ws_(std::move(socket)) {}

    void run() {
        // The example's settings: no idle timeout or pings for a server, a 30 s handshake limit.
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        websocket::permessage_deflate pmd;
        pmd.server_enable = false;
        ws_.set_option(pmd);
        ws_.async_accept(beast::bind_front_handler(&Session::on_accept, shared_from_this()));
    }

  private:
    void on_accept(beast::error_code ec) {
        if (ec) return report(ec, "handshake");
        do_read();
    }

    void do_read() {
        ws_.async_read(buffer_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec) return report(ec, "read");
        ws_.text(ws_.got_text());  // echo text as text, binary as binary
        ws_.async_write(buffer_.data(),
                        beast::bind_front_handler(&Session::on_write, shared_from_this()));
    }

    void on_write(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec) return report(ec, "write");
        buffer_.consume(buffer_.size());
        do_read();
    }

    websocket::stream<Socket> ws_;
    beast::flat_buffer buffer_;
};

class Listener {
  public:
    Listener(asio::io_context& ctx, tcp::endpoint endpoint)
        : acceptor_(ctx.get_executor(), endpoint, /*reuse_addr=*/true) {}

    void run() { do_accept(); }
    void close() {
        beast::error_code ec;
        acceptor_.close(ec);
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }

  private:
    void do_accept() {
        acceptor_.async_accept([this](beast::error_code ec, Socket socket) {
            if (ec == asio::error::operation_aborted) return;  // closed on shutdown
            if (ec) {
                report(ec, "accept");
            } else {
                socket.set_option(tcp::no_delay(true), ec);
                std::make_shared<Session>(std::move(socket))->run();
            }
            do_accept();
        });
    }

    Acceptor acceptor_;
};

int parse_port(int argc, char** argv) {
    int port = -1;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            char* end = nullptr;
            long v = std::strtol(argv[++i], &end, 10);
            port = (*end == '\0' && v >= 0 && v <= 65535) ? static_cast<int>(v) : -1;
        } else {
            port = -1;
            break;
        }
    }
    if (port < 0) {
        std::fprintf(stderr, "usage: beast_ws_echo --port N  (0..65535; 0 picks a free port)\n");
        std::exit(2);
    }
    return port;
}

}  // namespace

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);
    try {
        asio::io_context ctx(1);  // concurrency hint: run by one thread, no locking
        Listener listener(ctx, tcp::endpoint(asio::ip::address_v4::loopback(),
                                             static_cast<unsigned short>(port)));
        asio::signal_set signals(ctx, SIGINT, SIGTERM);
        signals.async_wait([&](const beast::error_code&, int) {
            listener.close();
            ctx.stop();  // sessions still open are destroyed with the io_context
        });
        listener.run();
        std::printf("listening on 127.0.0.1:%u\n", static_cast<unsigned>(listener.port()));
        std::fflush(stdout);
        ctx.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "beast_ws_echo: %s\n", e.what());
        return 1;
    }
    return 0;
}
