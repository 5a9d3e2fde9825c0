#include "dally/net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>

#include "dally/runtime.hpp"

namespace dally {

// ---------------------------------------------------------------- Address

Address::Address() noexcept : m_storage{} { m_storage.ss_family = AF_UNSPEC; }

Address Address::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
    Address a;
    if (len > sizeof a.m_storage) len = sizeof a.m_storage;
    std::memcpy(&a.m_storage, sa, len);
    a.m_len = len;
    return a;
}

Result<Address> Address::ip(std::string_view host, std::uint16_t port) {
    std::string h(host);
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.m_storage);
    if (inet_pton(AF_INET, h.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.m_len = sizeof(sockaddr_in);
        return a;
    }
    a = Address();
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.m_storage);
    if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.m_len = sizeof(sockaddr_in6);
        return a;
    }
    return std::make_error_code(std::errc::invalid_argument);
}

Result<Address> Address::parse(std::string_view text) {
    const auto invalid = std::make_error_code(std::errc::invalid_argument);
    if (text.starts_with("unix:")) return unix_path(text.substr(5));
    std::string_view host, port_text;
    if (text.starts_with("[")) {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return invalid;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) return invalid;
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    if (port_text.empty() || port_text.size() > 5) return invalid;
    unsigned port = 0;
    for (char c : port_text) {
        if (c < '0' || c > '9') return invalid;
        port = port * 10 + static_cast<unsigned>(c - '0');
    }
    if (port > 65535) return invalid;
    return ip(host, static_cast<std::uint16_t>(port));
}

Address Address::loopback_v4(std::uint16_t port) noexcept {
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.m_storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.m_len = sizeof(sockaddr_in);
    return a;
}

Address Address::loopback_v6(std::uint16_t port) noexcept {
    Address a;
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.m_storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    v6->sin6_addr = in6addr_loopback;
    a.m_len = sizeof(sockaddr_in6);
    return a;
}

Result<Address> Address::unix_path(std::string_view path) {
    Address a;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.m_storage);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
        return std::make_error_code(std::errc::filename_too_long);
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.data(), path.size());
    if (path[0] == '@') un->sun_path[0] = '\0';  // abstract namespace
    a.m_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                     (path[0] == '@' ? 0 : 1));
    return a;
}

int Address::family() const noexcept { return m_storage.ss_family; }

std::uint16_t Address::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_port);
    return 0;
}

bool Address::is_loopback() const noexcept {
    if (family() == AF_INET) {
        auto addr = ntohl(reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr.s_addr);
        return (addr >> 24) == 127;
    }
    if (family() == AF_INET6) {
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_addr);
    }
    return family() == AF_UNIX;
}

std::string Address::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(port());
    }
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_addr, buf, sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(port());
    }
    if (family() == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(&m_storage);
        std::size_t n = m_len > offsetof(sockaddr_un, sun_path) ? m_len - offsetof(sockaddr_un, sun_path) : 0;
        if (n == 0) return "unix:";
        if (un->sun_path[0] == '\0') return "unix:@" + std::string(un->sun_path + 1, n - 1);
        return "unix:" + std::string(un->sun_path, strnlen(un->sun_path, n));
    }
    return "unspecified";
}

std::string Address::ip_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&m_storage)->sin_addr, buf, sizeof buf);
        return buf;
    }
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&m_storage)->sin6_addr, buf, sizeof buf);
        return buf;
    }
    return to_string();
}

bool Address::operator==(const Address& o) const noexcept {
    return m_len == o.m_len && std::memcmp(&m_storage, &o.m_storage, m_len) == 0;
}

// ---------------------------------------------------------------- sockets

namespace detail {

int open_stream_socket(int family) noexcept {
    int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

void close_fd(int fd) noexcept {
    if (fd < 0) return;
    if (Runtime* rt = Runtime::current()) rt->backend().forget_fd(fd);
    ::close(fd);
}

namespace {
Result<Address> sock_name(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                 : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r < 0) return errno_code(errno);
    return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}
}  // namespace

}  // namespace detail

Stream& Stream::operator=(Stream&& o) noexcept {
    if (this != &o) {
        detail::close_fd(m_fd);
        m_fd = std::exchange(o.m_fd, -1);
    }
    return *this;
}

Stream::~Stream() { detail::close_fd(m_fd); }

SizeAwaitable Stream::recv(std::span<std::byte> buf) noexcept {
    return detail::io_op(detail::OpCode::recv, "recv", m_fd, buf.data(), buf.size(), 0);
}

SizeAwaitable Stream::send(std::span<const std::byte> data) noexcept {
    return detail::io_op(detail::OpCode::send, "send", m_fd, data.data(), data.size(), 0);
}

VoidAwaitable Stream::shutdown(Shutdown how) noexcept {
    VoidAwaitable a;
    a.what = "shutdown";
    a.op.code = detail::OpCode::shutdown;
    a.op.fd = m_fd;
    a.op.op_flags = static_cast<std::uint32_t>(how);
    return a;
}

VoidAwaitable Stream::close() noexcept {
    VoidAwaitable a;
    a.what = "close";
    a.op.code = detail::OpCode::close;
    a.op.fd = std::exchange(m_fd, -1);
    return a;
}

Result<Address> Stream::local_address() const { return detail::sock_name(m_fd, false); }
Result<Address> Stream::peer_address() const { return detail::sock_name(m_fd, true); }

Result<void> TcpStream::set_nodelay(bool on) noexcept {
    int v = on ? 1 : 0;
    if (::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0) return errno_code(errno);
    return {};
}

Result<std::pair<UnixStream, UnixStream>> UnixStream::pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) return errno_code(errno);
    return std::pair<UnixStream, UnixStream>(UnixStream(fds[0]), UnixStream(fds[1]));
}

// ---------------------------------------------------------------- listeners

namespace detail {

// Shared by a listener and its multishot accept. When the listener goes away while the
// multishot is armed, the state is orphaned and freed by the final completion.
struct AcceptState {
    int fd = -1;
    Runtime* owner = nullptr;
    Op multi{};
    std::deque<int> ready;
    int error = 0;
    AcceptAwaitableBase* waiter = nullptr;
    bool armed = false;
    bool orphaned = false;

    ~AcceptState() {
        for (int c : ready) close_fd(c);
        close_fd(fd);
    }

    void hand_over() {
        AcceptAwaitableBase* w = waiter;
        if (w == nullptr) return;
        if (!ready.empty()) {
            w->result = ready.front();
            ready.pop_front();
        } else if (error != 0) {
            w->result = error;
            error = 0;
        } else {
            return;
        }
        waiter = nullptr;
        w->has_result = true;
        if (multi.root != nullptr && multi.root->current_op == &multi) multi.root->current_op = nullptr;
        multi.root = nullptr;
        if (w->timer_pending) {
            owner->backend().cancel(w->timer);  // resumes when the timer's completion arrives
        } else {
            owner->schedule(w->handle);
        }
    }

    static void on_cqe(Op& op, int res, std::uint32_t, bool more) {
        auto* self = reinterpret_cast<AcceptState*>(reinterpret_cast<char*>(&op) - offsetof(AcceptState, multi));
        if (!more) self->armed = false;
        if (self->orphaned) {
            if (res >= 0) close_fd(res);
            if (!self->armed) delete self;
            return;
        }
        if (res >= 0) {
            self->ready.push_back(res);
        } else if (!more) {
            self->error = res;
        }
        self->hand_over();
    }

    void arm() {
        multi.code = OpCode::accept_multishot;
        multi.fd = fd;
        multi.handler = &AcceptState::on_cqe;
        owner->backend().submit(multi);
        armed = true;
    }
};

static void delete_state(AcceptState* s) {
    if (s == nullptr) return;
    if (s->armed && s->owner != nullptr) {
        // The kernel still holds the multishot accept (and a reference to the socket): stop
        // listening now, then cancel it; its last completion frees s.
        ::shutdown(s->fd, SHUT_RDWR);
        close_fd(std::exchange(s->fd, -1));
        s->orphaned = true;
        for (int c : s->ready) close_fd(c);
        s->ready.clear();
        s->owner->backend().cancel(s->multi);
        return;
    }
    delete s;
}

namespace {
void on_accept_timer(Op& op, int, std::uint32_t, bool) {
    auto* w = reinterpret_cast<AcceptAwaitableBase*>(op.offset);
    w->timer_pending = false;
    if (!w->has_result) {
        // The deadline passed first: withdraw from the listener (its accept stays armed).
        if (w->state->waiter == w) w->state->waiter = nullptr;
        Op& multi = w->state->multi;
        if (multi.root != nullptr && multi.root->current_op == &multi) multi.root->current_op = nullptr;
        multi.root = nullptr;
        w->has_result = true;
        w->result = -ETIMEDOUT;
    }
    w->state->owner->schedule(w->handle);
}
}  // namespace

bool AcceptAwaitableBase::await_ready() const noexcept {
    return state != nullptr && !state->ready.empty();
}

bool AcceptAwaitableBase::await_suspend(std::coroutine_handle<> h, TaskRoot* root) {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw NoRuntimeError("accept");
    if (state == nullptr) {
        has_result = true;
        result = -EBADF;
        return false;
    }
    if (root != nullptr && root->cancel_requested.load(std::memory_order_acquire)) {
        has_result = true;
        result = -ECANCELED;
        return false;
    }
    if (state->owner != nullptr && state->owner != rt) {
        throw std::logic_error("dally: a listener is used from one runtime; bind one per runtime "
                               "with ListenOptions::reuse_port");
    }
    if (state->waiter != nullptr) {
        throw std::logic_error("dally: two tasks await accept() on the same listener at once");
    }
    state->owner = rt;
    if (state->error != 0 || !state->ready.empty()) return false;
    handle = h;
    state->waiter = this;
    state->multi.root = root;
    if (root != nullptr) root->current_op = &state->multi;
    if (!state->armed) state->arm();
    if (timer.has_deadline) {
        timer.code = OpCode::timeout;
        timer.ts = timer.deadline;
        timer.has_deadline = false;
        timer.op_flags = 1U << 0;  // IORING_TIMEOUT_ABS
        timer.offset = reinterpret_cast<std::uintptr_t>(this);
        timer.handler = &on_accept_timer;
        timer_pending = true;
        rt->backend().submit(timer);
    }
    return true;
}

Result<int> AcceptAwaitableBase::take_fd() {
    if (!has_result && state != nullptr) {
        if (!state->ready.empty()) {
            result = state->ready.front();
            state->ready.pop_front();
        } else {
            result = state->error;
            state->error = 0;
        }
    }
    if (result >= 0) return result;
    return errno_code(result);
}

ListenerBase::ListenerBase(int fd) : m_state(new AcceptState, &delete_state) { m_state->fd = fd; }

ListenerBase::ListenerBase(ListenerBase&& o) noexcept : m_state(std::move(o.m_state)) {}

ListenerBase& ListenerBase::operator=(ListenerBase&& o) noexcept {
    m_state = std::move(o.m_state);
    return *this;
}

ListenerBase::~ListenerBase() = default;

bool ListenerBase::is_open() const noexcept { return m_state != nullptr; }

int ListenerBase::fd() const noexcept { return m_state ? m_state->fd : -1; }

void ListenerBase::close() noexcept { m_state.reset(); }

Result<Address> ListenerBase::local_address() const {
    if (!m_state) return std::make_error_code(std::errc::bad_file_descriptor);
    return sock_name(m_state->fd, false);
}

Result<int> ListenerBase::open(const Address& addr, const ListenOptions& options) {
    int fd = open_stream_socket(addr.family());
    if (fd < 0) return errno_code(fd);
    int one = 1;
    auto fail = [fd]() -> Result<int> {
        auto ec = errno_code(errno);
        ::close(fd);
        return ec;
    };
    if (addr.family() != AF_UNIX) {
        if (options.reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return fail();
        if (options.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) return fail();
    }
    if (::bind(fd, addr.data(), addr.size()) < 0) return fail();
    if (::listen(fd, options.backlog) < 0) return fail();
    return fd;
}

}  // namespace detail

Result<TcpListener> TcpListener::bind(const Address& addr, ListenOptions options) {
    if (addr.family() != AF_INET && addr.family() != AF_INET6) {
        return std::make_error_code(std::errc::address_family_not_supported);
    }
    auto fd = open(addr, options);
    if (!fd) return fd.error();
    return TcpListener(*fd);
}

std::uint16_t TcpListener::port() const {
    auto a = local_address();
    return a ? a->port() : 0;
}

Result<UnixListener> UnixListener::bind(const Address& addr, ListenOptions options) {
    if (addr.family() != AF_UNIX) return std::make_error_code(std::errc::address_family_not_supported);
    const auto* un = reinterpret_cast<const sockaddr_un*>(addr.data());
    if (un->sun_path[0] != '\0') ::unlink(un->sun_path);
    auto fd = open(addr, options);
    if (!fd) return fd.error();
    return UnixListener(*fd);
}

}  // namespace dally
