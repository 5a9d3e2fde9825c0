// liburing_echo: a minimal single-threaded TCP echo server written directly against liburing.
// It is the ceiling an io_uring runtime is compared with in bench/echo/run.sh: one ring,
// multishot accept, and per connection one recv or send in flight at a time.
//
//   liburing_echo --port N      (listens on 127.0.0.1:N; stops on SIGINT or SIGTERM)

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace {

constexpr std::size_t buffer_size = 64 * 1024;
constexpr unsigned ring_entries = 4096;

// user_data is (fd << op_bits) | op: each connection has at most one request in flight, so a
// connection's fd is never reused while a completion for it can still arrive.
enum Op : std::uint64_t { op_accept = 1, op_recv = 2, op_send = 3, op_signal = 4 };
constexpr unsigned op_bits = 3;

std::uint64_t tag(int fd, Op op) { return (static_cast<std::uint64_t>(fd) << op_bits) | op; }

struct Conn {
    std::unique_ptr<char[]> buf;  // buffer_size bytes while the connection is open
    unsigned len = 0;             // bytes received and being echoed back
    unsigned sent = 0;            // of len, bytes already sent
};

struct Server {
    io_uring ring{};
    int listen_fd = -1;
    int signal_fd = -1;
    signalfd_siginfo siginfo{};
    std::vector<Conn> conns;  // indexed by fd
    bool running = true;
};

[[noreturn]] void die(const char* what, int err) {
    std::fprintf(stderr, "liburing_echo: %s: %s\n", what, std::strerror(err));
    std::exit(1);
}

io_uring_sqe* get_sqe(Server& s) {
    io_uring_sqe* sqe = io_uring_get_sqe(&s.ring);
    if (sqe == nullptr) {
        // The SQ is full: flush it. Only reachable with thousands of connections.
        int ret = io_uring_submit(&s.ring);
        if (ret < 0) die("io_uring_submit", -ret);
        sqe = io_uring_get_sqe(&s.ring);
        if (sqe == nullptr) die("io_uring_get_sqe", EBUSY);
    }
    return sqe;
}

void arm_accept(Server& s) {
    io_uring_sqe* sqe = get_sqe(s);
    io_uring_prep_multishot_accept(sqe, s.listen_fd, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(sqe, tag(s.listen_fd, op_accept));
}

void arm_signal(Server& s) {
    io_uring_sqe* sqe = get_sqe(s);
    io_uring_prep_read(sqe, s.signal_fd, &s.siginfo, sizeof s.siginfo, 0);
    io_uring_sqe_set_data64(sqe, tag(s.signal_fd, op_signal));
}

void arm_recv(Server& s, int fd) {
    io_uring_sqe* sqe = get_sqe(s);
    io_uring_prep_recv(sqe, fd, s.conns[fd].buf.get(), buffer_size, 0);
    io_uring_sqe_set_data64(sqe, tag(fd, op_recv));
}

void arm_send(Server& s, int fd) {
    Conn& c = s.conns[fd];
    io_uring_sqe* sqe = get_sqe(s);
    io_uring_prep_send(sqe, fd, c.buf.get() + c.sent, c.len - c.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag(fd, op_send));
}

void close_conn(Server& s, int fd) {
    s.conns[fd].buf.reset();
    ::close(fd);
}

void on_accept(Server& s, const io_uring_cqe* cqe) {
    if ((cqe->flags & IORING_CQE_F_MORE) == 0) arm_accept(s);  // multishot ended: re-arm
    if (cqe->res < 0) {
        if (cqe->res != -ECANCELED) {
            std::fprintf(stderr, "liburing_echo: accept: %s\n", std::strerror(-cqe->res));
        }
        return;
    }
    int fd = cqe->res;
    int one = 1;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        std::fprintf(stderr, "liburing_echo: TCP_NODELAY: %s\n", std::strerror(errno));
    }
    if (static_cast<std::size_t>(fd) >= s.conns.size()) s.conns.resize(fd + 64);
    Conn& c = s.conns[fd];
    c.buf = std::make_unique_for_overwrite<char[]>(buffer_size);
    c.len = c.sent = 0;
    arm_recv(s, fd);
}

void on_recv(Server& s, int fd, int res) {
    if (res <= 0) {  // EOF or error (ECONNRESET when the load generator exits)
        close_conn(s, fd);
        return;
    }
    Conn& c = s.conns[fd];
    c.len = static_cast<unsigned>(res);
    c.sent = 0;
    arm_send(s, fd);
}

void on_send(Server& s, int fd, int res) {
    if (res <= 0) {
        close_conn(s, fd);
        return;
    }
    Conn& c = s.conns[fd];
    c.sent += static_cast<unsigned>(res);
    if (c.sent < c.len) {
        arm_send(s, fd);  // partial send: the rest
    } else {
        arm_recv(s, fd);
    }
}

void handle(Server& s, const io_uring_cqe* cqe) {
    std::uint64_t data = io_uring_cqe_get_data64(cqe);
    int fd = static_cast<int>(data >> op_bits);
    switch (static_cast<Op>(data & ((1U << op_bits) - 1))) {
        case op_accept:
            on_accept(s, cqe);
            break;
        case op_recv:
            on_recv(s, fd, cqe->res);
            break;
        case op_send:
            on_send(s, fd, cqe->res);
            break;
        case op_signal:
            s.running = false;
            break;
    }
}

void init_ring(io_uring& ring) {
    // Newest flags first; older kernels reject the ones they do not know with EINVAL.
    const unsigned flag_sets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                  IORING_SETUP_COOP_TASKRUN, 0};
    int ret = -EINVAL;
    for (unsigned flags : flag_sets) {
        io_uring_params params{};
        params.flags = flags;
        ret = io_uring_queue_init_params(ring_entries, &ring, &params);
        if (ret != -EINVAL) break;
    }
    if (ret < 0) die("io_uring_queue_init_params", -ret);
}

int listen_on(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
        die("SO_REUSEADDR", errno);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("bind", errno);
    if (::listen(fd, SOMAXCONN) != 0) die("listen", errno);
    return fd;
}

int parse_port(int argc, char** argv) {
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--port" && i + 1 < argc) {
            port = std::atoi(argv[++i]);
        } else {
            std::fprintf(stderr, "usage: liburing_echo --port N\n");
            std::exit(2);
        }
    }
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "usage: liburing_echo --port N  (1..65535)\n");
        std::exit(2);
    }
    return port;
}

}  // namespace

int main(int argc, char** argv) {
    int port = parse_port(argc, argv);

    // Signals arrive as a read completion on a signalfd, so the loop never sees EINTR.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) die("sigprocmask", errno);

    Server s;
    s.signal_fd = ::signalfd(-1, &mask, SFD_CLOEXEC);
    if (s.signal_fd < 0) die("signalfd", errno);
    s.listen_fd = listen_on(port);
    init_ring(s.ring);
    s.conns.resize(1024);
    arm_accept(s);
    arm_signal(s);

    while (s.running) {
        int ret = io_uring_submit_and_wait(&s.ring, 1);
        if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
            die("io_uring_submit_and_wait", -ret);
        }
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(&s.ring, head, cqe) {
            handle(s, cqe);
            ++seen;
        }
        io_uring_cq_advance(&s.ring, seen);
    }

    io_uring_queue_exit(&s.ring);  // cancels what is still in flight
    for (std::size_t fd = 0; fd < s.conns.size(); ++fd) {
        if (s.conns[fd].buf) ::close(static_cast<int>(fd));
    }
    ::close(s.listen_fd);
    ::close(s.signal_fd);
    return 0;
}
