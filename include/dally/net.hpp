// dally/net.hpp: addresses, TCP and Unix stream sockets, on the ring.
//
// Every operation returns a Result (an error code, never an exception). Buffers passed
// to recv/send are borrowed until the co_await completes; the awaiting coroutine's frame
// keeps them alive, and a cancelled or timed-out operation still waits for the kernel's
// completion before it returns, so a buffer is never freed while the kernel may use it.
//
//     auto listener = dally::TcpListener::bind(*dally::Address::parse("127.0.0.1:7000")).value();
//     for (;;) {
//         auto conn = co_await listener.accept();          // multishot accept under the hood
//         if (conn) (void)dally::spawn(session(std::move(*conn)));
//     }
//
// A listener or stream is used from one runtime at a time. Dropping a stream closes it
// (synchronously); co_await stream.close() closes it through the ring.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "dally/detail/io.hpp"
#include "dally/result.hpp"
#include "dally/time.hpp"

namespace dally {

// An IPv4, IPv6 or Unix-domain socket address.
class Address {
public:
    Address() noexcept;
    // "127.0.0.1:80", "[::1]:8080", "unix:/run/x.sock" or "unix:@abstract". No DNS lookup.
    static Result<Address> parse(std::string_view text);
    // An IP literal (no brackets) and a port.
    static Result<Address> ip(std::string_view host, std::uint16_t port);
    static Address loopback_v4(std::uint16_t port) noexcept;
    static Address loopback_v6(std::uint16_t port) noexcept;
    // A filesystem path, or an abstract name when it starts with '@'. Fails if too long.
    static Result<Address> unix_path(std::string_view path);
    static Address from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

    int family() const noexcept;       // AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC if empty
    std::uint16_t port() const noexcept;  // 0 for Unix addresses
    bool is_loopback() const noexcept;
    // "127.0.0.1:80", "[::1]:8080", "unix:/path" (the form parse() accepts).
    std::string to_string() const;
    // The IP without the port ("127.0.0.1", "::1"; per-client limits key on it); for a
    // Unix address, to_string().
    std::string ip_string() const;

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&m_storage); }
    socklen_t size() const noexcept { return m_len; }
    bool operator==(const Address& other) const noexcept;

private:
    sockaddr_storage m_storage;
    socklen_t m_len = 0;
};

enum class Shutdown { read = SHUT_RD, write = SHUT_WR, both = SHUT_RDWR };

// send_all: see detail::TransferAllAwaitable (no allocation; timeout() covers it all).
using SendAllAwaitable = detail::TransferAllAwaitable;

// A connected stream socket (TCP or Unix). Owns its descriptor.
class Stream {
public:
    Stream() noexcept = default;
    explicit Stream(int fd) noexcept : m_fd(fd) {}
    Stream(Stream&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    Stream& operator=(Stream&& o) noexcept;
    ~Stream();

    bool is_open() const noexcept { return m_fd >= 0; }
    int fd() const noexcept { return m_fd; }
    // Gives up ownership of the descriptor.
    int release() noexcept { return std::exchange(m_fd, -1); }

    // Receives up to buf.size() bytes; 0 means the peer closed its side.
    SizeAwaitable recv(std::span<std::byte> buf) noexcept;
    SizeAwaitable recv(std::span<char> buf) noexcept { return recv(std::as_writable_bytes(buf)); }
    // Sends some of `data` (possibly fewer bytes); never raises SIGPIPE.
    SizeAwaitable send(std::span<const std::byte> data) noexcept;
    SizeAwaitable send(std::span<const char> data) noexcept { return send(std::as_bytes(data)); }
    // Sends all of `data`; on error, partial() says how much went out.
    SendAllAwaitable send_all(std::span<const std::byte> data) noexcept {
        return {detail::OpCode::send, "send_all", m_fd, data, 0, std::errc::broken_pipe};
    }
    SendAllAwaitable send_all(std::span<const char> data) noexcept { return send_all(std::as_bytes(data)); }
    VoidAwaitable shutdown(Shutdown how = Shutdown::write) noexcept;
    // Closes through the ring; the stream is closed (is_open() false) from this call on.
    VoidAwaitable close() noexcept;

    Result<Address> local_address() const;
    Result<Address> peer_address() const;

protected:
    int m_fd = -1;
};

namespace detail {
// A non-blocking-free stream socket of `family` (CLOEXEC), or -errno.
int open_stream_socket(int family) noexcept;
}  // namespace detail

// Connect: creates the socket and connects it; Result<S> on completion.
template <class S>
struct ConnectAwaitable : detail::OpAwaitable {
    Address addr;
    int fd = -1;
    int setup_error = 0;
    explicit ConnectAwaitable(const Address& a) : addr(a) { what = "connect"; }
    ConnectAwaitable(ConnectAwaitable&& o) noexcept
        : detail::OpAwaitable(o), addr(o.addr), fd(std::exchange(o.fd, -1)), setup_error(o.setup_error) {}
    ~ConnectAwaitable() { close_fd(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        fd = detail::open_stream_socket(addr.family());
        if (fd < 0) {
            op.res = fd;
            return false;
        }
        op.code = detail::OpCode::connect;
        op.fd = fd;
        op.buf = const_cast<sockaddr*>(addr.data());
        op.len = addr.size();
        return detail::OpAwaitable::await_suspend(h);
    }
    Result<S> await_resume() {
        if (op.res < 0) {
            auto r = detail::void_result(op);
            close_fd();
            return r.error();
        }
        return S(std::exchange(fd, -1));
    }

private:
    void close_fd() noexcept { detail::close_fd(std::exchange(fd, -1)); }
};

class TcpStream : public Stream {
public:
    using Stream::Stream;
    // Connects to an IPv4/IPv6 address. Works with timeout().
    static ConnectAwaitable<TcpStream> connect(const Address& addr) { return ConnectAwaitable<TcpStream>(addr); }
    Result<void> set_nodelay(bool on) noexcept;
};

class UnixStream : public Stream {
public:
    using Stream::Stream;
    static ConnectAwaitable<UnixStream> connect(const Address& addr) { return ConnectAwaitable<UnixStream>(addr); }
    // A connected pair (socketpair).
    static Result<std::pair<UnixStream, UnixStream>> pair();
};

struct ListenOptions {
    // Pending-connection queue length (capped by net.core.somaxconn).
    int backlog = 1024;
    // SO_REUSEADDR: rebind while old connections sit in TIME_WAIT.
    bool reuse_address = true;
    // SO_REUSEPORT: several listeners (one per runtime) share the port; the kernel spreads
    // connections over them.
    bool reuse_port = false;
};

namespace detail {
struct AcceptState;
// accept(): takes a connection from the listener's multishot accept, arming it if needed.
struct AcceptAwaitableBase {
    AcceptState* state;
    Op timer{};                // under timeout(): a timer racing the listener's accept
    std::coroutine_handle<> handle{};
    bool has_result = false;   // `result` was filled in
    bool timer_pending = false;
    int result = 0;            // accepted fd or -errno
    bool await_ready() const noexcept;
    bool await_suspend(std::coroutine_handle<> h, TaskRoot* root);
    Result<int> take_fd();
    void set_deadline(std::chrono::steady_clock::time_point tp) noexcept { detail::set_deadline(timer, tp); }
};
class ListenerBase {
public:
    ListenerBase() noexcept = default;
    ListenerBase(ListenerBase&&) noexcept;
    ListenerBase& operator=(ListenerBase&&) noexcept;
    ~ListenerBase();
    bool is_open() const noexcept;
    int fd() const noexcept;
    Result<Address> local_address() const;
    // Stops listening; connections accepted but not yet taken are closed.
    void close() noexcept;

protected:
    static Result<int> open(const Address& addr, const ListenOptions& options);
    explicit ListenerBase(int fd);
    std::unique_ptr<AcceptState, void (*)(AcceptState*)> m_state{nullptr, nullptr};
};
}  // namespace detail

template <class S>
struct AcceptAwaitable : detail::AcceptAwaitableBase {
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return detail::AcceptAwaitableBase::await_suspend(h, detail::root_of(h));
    }
    Result<S> await_resume() {
        auto r = take_fd();
        if (!r) return r.error();
        return S(*r);
    }
};

class TcpListener : public detail::ListenerBase {
public:
    TcpListener() noexcept = default;
    // socket + bind + listen. Port 0 picks a free port (see local_address()).
    static Result<TcpListener> bind(const Address& addr, ListenOptions options = {});
    // The next connection. Works with timeout().
    AcceptAwaitable<TcpStream> accept() noexcept { return {{m_state.get()}}; }
    std::uint16_t port() const;

private:
    using ListenerBase::ListenerBase;
};

class UnixListener : public detail::ListenerBase {
public:
    UnixListener() noexcept = default;
    // Binds a Unix socket path (an existing socket file at that path is replaced).
    static Result<UnixListener> bind(const Address& addr, ListenOptions options = {});
    AcceptAwaitable<UnixStream> accept() noexcept { return {{m_state.get()}}; }

private:
    using ListenerBase::ListenerBase;
};

}  // namespace dally
