// web::Server over loopback: keep-alive, pipelining, bodies, limits, timeouts, streaming,
// static files, spreading over runtimes, graceful shutdown.
#include "web_test_support.hpp"

#include "dally/web/json.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace dally;
using namespace dally::web;
using namespace std::chrono_literals;
using web_test::Client;
using web_test::TestServer;

namespace {

Router basic_router() {
    Router r;
    r.get("/", [](Request&) -> Task<Response> { co_return Response::text(200, "Hello, World!"); });
    r.post("/echo", [](Request& req) -> Task<Response> { co_return Response::text(200, req.body); });
    r.get("/users/{name}", [](Request& req) -> Task<Response> {
        co_return Response::json(200, fmt::format(R"({{"name":{}}})", json_str{req.param("name")}));
    });
    r.get("/throw", [](Request&) -> Task<Response> {
        throw std::runtime_error("handler failure");
        co_return Response::text(200, "unreachable");
    });
    r.get("/slow", [](Request&) -> Task<Response> {
        (void)co_await sleep_for(300ms);
        co_return Response::text(200, "slow done");
    });
    return r;
}

}  // namespace

TEST(Server, KeepAliveServesManyRequestsOnOneConnection) {
    TestServer srv(basic_router());
    Client c(srv.port());
    ASSERT_TRUE(c.connected());
    for (int i = 0; i < 20; ++i) {
        auto r = c.request(web_test::get("/"));
        ASSERT_TRUE(r) << "request " << i;
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "Hello, World!");
        EXPECT_EQ(r->header("Content-Length").value_or(""), "13");
        EXPECT_TRUE(r->header("Date").has_value());
        EXPECT_EQ(r->header("Server").value_or(""), "dally");
    }
    EXPECT_EQ(srv.server().stats().requests_total, 20u);
}

TEST(Server, PipelinedRequestsAreAnsweredInOrder) {
    TestServer srv(basic_router());
    Client c(srv.port());
    std::string batch;
    for (int i = 0; i < 50; ++i) batch += web_test::get("/users/u" + std::to_string(i));
    ASSERT_TRUE(c.send(batch));
    for (int i = 0; i < 50; ++i) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->body, fmt::format(R"({{"name":"u{}"}})", i));
        EXPECT_EQ(r->header("Content-Type").value_or(""), "application/json");
    }
}

TEST(Server, HeadHasLengthButNoBody) {
    TestServer srv(basic_router());
    Client c(srv.port());
    auto r = c.request("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("Content-Length").value_or(""), "13");
    // The next response follows immediately: no stray body bytes in between.
    auto next = c.request(web_test::get("/"));
    ASSERT_TRUE(next);
    EXPECT_EQ(next->body, "Hello, World!");
}

TEST(Server, NotFoundAndMethodNotAllowed) {
    TestServer srv(basic_router());
    Client c(srv.port());
    auto missing = c.request(web_test::get("/missing"));
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    auto wrong = c.request("DELETE /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 405);
    EXPECT_EQ(wrong->header("Allow").value_or(""), "POST");
}

TEST(Server, HandlerExceptionIs500AndTheConnectionSurvives) {
    TestServer srv(basic_router());
    Client c(srv.port());
    auto r = c.request(web_test::get("/throw"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    auto ok = c.request(web_test::get("/"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST(Server, ContentLengthAndChunkedBodiesReachTheHandler) {
    TestServer srv(basic_router());
    Client c(srv.port());
    auto a = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->body, "hello");
    auto b = c.request("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->body, "abcde");
}

TEST(Server, ExpectContinueGets100BeforeTheBody) {
    TestServer srv(basic_router());
    Client c(srv.port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    auto interim = c.read_response();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    auto r = c.request("body");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "body");
}

TEST(Server, LimitsAnswerWithStatusAndClose) {
    TestServer srv(basic_router(),
                   {.max_header_bytes = 4096, .max_uri_bytes = 1024, .max_body_bytes = 1000, .linger_timeout = 300ms});
    struct Case {
        std::string request;
        int status;
    };
    std::vector<Case> cases = {
        {"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(5000, 'x') + "\r\n\r\n", 431},
        {"GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
        {"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413},
        {"this is not http\r\n\r\n", 400},
        {"GET / HTTP/3.0\r\nHost: t\r\n\r\n", 505},
    };
    for (const auto& tc : cases) {
        Client c(srv.port());
        auto r = c.request(tc.request);
        ASSERT_TRUE(r) << tc.status;
        EXPECT_EQ(r->status, tc.status);
        EXPECT_EQ(r->header("Connection").value_or(""), "close");
        EXPECT_TRUE(c.closed_by_server()) << tc.status;
    }
    // The server is still fine.
    Client after(srv.port());
    auto ok = after.request(web_test::get("/"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_GE(srv.server().stats().rejected_total, cases.size());
}

TEST(Server, BodyOverTheLimitGets413AndTheClientMayStillSendIt) {
    TestServer srv(basic_router(), {.max_body_bytes = 1000});
    Client c(srv.port());
    const std::string body(4u << 20, 'b');
    const std::string head =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    // A client that sends its body without waiting (no Expect: 100-continue): the server
    // answers 413 at the head, then reads and discards the rest instead of resetting.
    ASSERT_TRUE(c.send(head + body.substr(0, 64 * 1024)));
    auto r = c.read_response();
    ASSERT_TRUE(r) << "the response was lost";
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->header("Connection").value_or(""), "close");
    std::this_thread::sleep_for(50ms);  // a server that closed at once has reset us by now
    ASSERT_TRUE(c.send(body.substr(64 * 1024))) << "the connection was reset mid-body: " << std::strerror(errno);
    EXPECT_TRUE(c.closed_by_server());
}

TEST(Server, LingerAfterAnErrorEndsAtLingerTimeout) {
    TestServer srv(basic_router(), {.max_body_bytes = 1000, .linger_timeout = 300ms});
    Client c(srv.port());
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    // The server half-closed after the response, and reads (and drops) what still comes.
    EXPECT_TRUE(c.closed_by_server());
    const std::string more(1000, 'm');
    EXPECT_TRUE(c.send(more));
    std::this_thread::sleep_for(50ms);
    EXPECT_TRUE(c.send(more)) << "reset during the linger";
    // After linger_timeout the server has closed: what the client sends now is reset.
    std::this_thread::sleep_for(600ms * dally_test::slowdown);
    bool reset = false;
    for (int i = 0; i < 20 && !reset; ++i) {
        reset = !c.send(more);
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(reset) << "the server still held the connection after linger_timeout";
}

TEST(Server, SlowHeadersGet408AndIdleConnectionsClose) {
    TestServer srv(basic_router(), {.header_timeout = 300ms, .idle_timeout = 300ms});
    Client slow(srv.port());
    ASSERT_TRUE(slow.send("GET / HTTP/1.1\r\nHost"));  // and then nothing
    auto r = slow.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(slow.closed_by_server());

    Client idle(srv.port());
    auto t0 = Clock::now();
    EXPECT_TRUE(idle.closed_by_server());  // closed silently, no response
    EXPECT_GE(dally_test::ms_since(t0), 250);
}

TEST(Server, TrickledHeadersStillHitTheHeaderDeadline) {
    // A byte every 100 ms keeps the connection busy, but the whole head must arrive in 400 ms.
    TestServer srv(basic_router(), {.header_timeout = 400ms});
    Client c(srv.port());
    auto t0 = Clock::now();
    std::string head = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: " + std::string(50, 'z');
    bool cut = false;
    for (char ch : head) {
        if (!c.send(std::string_view(&ch, 1))) {
            cut = true;
            break;
        }
        std::this_thread::sleep_for(100ms);
        if (dally_test::ms_since(t0) > 2000 * dally_test::slowdown) break;
    }
    auto r = c.read_response();
    EXPECT_TRUE(cut || (r && r->status == 408));
    EXPECT_LT(dally_test::ms_since(t0), 2000 * dally_test::slowdown);
}

TEST(Server, ConnectionLimitAnswers503) {
    TestServer srv(basic_router(), {.max_connections = 2}, 1);
    Client a(srv.port());
    Client b(srv.port());
    ASSERT_TRUE(a.request(web_test::get("/")));
    ASSERT_TRUE(b.request(web_test::get("/")));
    Client c(srv.port());
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(c.closed_by_server());
}

TEST(Server, StreamedResponsesAreChunkedAndServerSentEventsFramed) {
    Router router;
    router.get("/log", [](Request&) -> Task<Response> {
        co_return Response::stream("text/plain", [](BodyWriter& out) -> Task<void> {
            for (int i = 0; i < 5; ++i) {
                if (!co_await out.write(fmt::format("line {}\n", i))) co_return;
            }
        });
    });
    router.get("/events", [](Request&) -> Task<Response> {
        co_return Response::events([](EventStream& events) -> Task<void> {
            (void)co_await events.send("one");
            (void)co_await events.send("two\nlines", "update", "7");
            (void)co_await events.comment("keepalive");
        });
    });
    TestServer srv(std::move(router));
    Client c(srv.port());
    auto log = c.request(web_test::get("/log"));
    ASSERT_TRUE(log);
    EXPECT_TRUE(log->chunked);
    EXPECT_EQ(log->body, "line 0\nline 1\nline 2\nline 3\nline 4\n");
    auto ev = c.request(web_test::get("/events"));
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->header("Content-Type").value_or(""), "text/event-stream");
    EXPECT_EQ(ev->body, "data: one\n\nevent: update\nid: 7\ndata: two\ndata: lines\n\n: keepalive\n\n");

    // HTTP/1.0 has no chunked encoding: the body ends with the connection.
    Client old(srv.port());
    auto r10 = old.request("GET /log HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r10);
    EXPECT_FALSE(r10->chunked);
    EXPECT_EQ(r10->body, "line 0\nline 1\nline 2\nline 3\nline 4\n");
}

TEST(Server, ClientVanishingMidStreamDoesNotHurtTheServer) {
    std::atomic<bool> producer_saw_error{false};
    Router router = basic_router();
    router.get("/firehose", [&](Request&) -> Task<Response> {
        co_return Response::stream("application/octet-stream", [&](BodyWriter& out) -> Task<void> {
            std::string block(64 * 1024, 'x');
            for (int i = 0; i < 100000; ++i) {
                if (!co_await out.write(block)) {
                    producer_saw_error = true;
                    co_return;
                }
            }
        });
    });
    TestServer srv(std::move(router), {.write_timeout = 2s});
    {
        Client c(srv.port());
        ASSERT_TRUE(c.send(web_test::get("/firehose")));
        char buf[1024];
        ASSERT_GT(::recv(c.fd(), buf, sizeof buf, 0), 0);
        // c goes away with megabytes unsent
    }
    auto t0 = Clock::now();
    while (!producer_saw_error && dally_test::ms_since(t0) < 10000 * dally_test::slowdown) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(producer_saw_error);
    Client next(srv.port());
    auto r = next.request(web_test::get("/"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST(Server, ConnectionsSpreadOverAllRuntimes) {
    std::mutex m;
    std::set<Runtime*> seen;
    Router router;
    router.get("/", [&](Request&) -> Task<Response> {
        std::lock_guard lock(m);
        seen.insert(Runtime::current());
        co_return Response::text(200, "ok");
    });
    TestServer srv(std::move(router), {}, 2);
    for (int i = 0; i < 64; ++i) {
        Client c(srv.port());
        ASSERT_TRUE(c.request(web_test::get("/")));
        std::lock_guard lock(m);
        if (seen.size() == 2) break;
    }
    std::lock_guard lock(m);
    EXPECT_EQ(seen.size(), 2u);
}

TEST(Server, ShutdownClosesIdleConnectionsAndFinishesRequestsInFlight) {
    TestServer srv(basic_router(), {.shutdown_grace = 5s});
    Client idle(srv.port());
    ASSERT_TRUE(idle.request(web_test::get("/")));
    Client busy(srv.port());
    ASSERT_TRUE(busy.send(web_test::get("/slow")));
    std::this_thread::sleep_for(100ms);  // /slow is now in its handler
    auto t0 = Clock::now();
    std::thread stopper([&] { srv.stop(); });
    auto r = busy.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "slow done");
    EXPECT_EQ(r->header("Connection").value_or(""), "close");
    EXPECT_TRUE(idle.closed_by_server());
    stopper.join();
    EXPECT_LT(dally_test::ms_since(t0), 3000 * dally_test::slowdown);
    // Nobody listens any more.
    Client late(srv.port());
    EXPECT_FALSE(late.connected() && late.request(web_test::get("/")));
}

TEST(Server, ShutdownGraceCancelsRequestsThatTakeTooLong) {
    Router router;
    router.get("/forever", [](Request&) -> Task<Response> {
        (void)co_await sleep_for(1h);
        co_return Response::text(200, "late");
    });
    TestServer srv(std::move(router), {.shutdown_grace = 200ms});
    Client c(srv.port());
    ASSERT_TRUE(c.send(web_test::get("/forever")));
    std::this_thread::sleep_for(100ms);
    auto t0 = Clock::now();
    srv.stop();
    EXPECT_LT(dally_test::ms_since(t0), 3000 * dally_test::slowdown);
}

class StaticFilesTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = std::filesystem::temp_directory_path() /
                ("dally_static_" + std::to_string(::getpid()) + "_" + std::to_string(m_counter++));
        std::filesystem::create_directories(m_dir / "root" / "sub");
        write(m_dir / "root" / "index.html", "<h1>home</h1>");
        write(m_dir / "root" / "app.js", "console.log(1)");
        write(m_dir / "root" / "sub" / "index.html", "sub index");
        write(m_dir / "secret.txt", "top secret");
        std::filesystem::create_symlink(m_dir / "secret.txt", m_dir / "root" / "escape.txt");
        std::filesystem::create_symlink("app.js", m_dir / "root" / "alias.js");
        write(m_dir / "root" / "big.bin", std::string(3 << 20, 'b'));
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }
    static void write(const std::filesystem::path& p, const std::string& data) {
        std::ofstream(p, std::ios::binary) << data;
    }
    std::filesystem::path root() const { return m_dir / "root"; }

    std::filesystem::path m_dir;
    static inline int m_counter = 0;
};

TEST_F(StaticFilesTest, ServesFilesWithTypesAndIndexes) {
    Router router;
    router.static_files("/", root());
    TestServer srv(std::move(router));
    Client c(srv.port());
    auto index = c.request(web_test::get("/"));
    ASSERT_TRUE(index);
    EXPECT_EQ(index->status, 200);
    EXPECT_EQ(index->body, "<h1>home</h1>");
    EXPECT_EQ(index->header("Content-Type").value_or(""), "text/html; charset=utf-8");
    auto js = c.request(web_test::get("/app.js"));
    ASSERT_TRUE(js);
    EXPECT_EQ(js->header("Content-Type").value_or(""), "text/javascript; charset=utf-8");
    auto alias = c.request(web_test::get("/alias.js"));  // a symlink inside the root is fine
    ASSERT_TRUE(alias);
    EXPECT_EQ(alias->body, "console.log(1)");
    auto sub = c.request(web_test::get("/sub"));
    ASSERT_TRUE(sub);
    EXPECT_EQ(sub->status, 301);
    EXPECT_EQ(sub->header("Location").value_or(""), "/sub/");
    auto subindex = c.request(web_test::get("/sub/"));
    ASSERT_TRUE(subindex);
    EXPECT_EQ(subindex->body, "sub index");
    auto big = c.request(web_test::get("/big.bin"));
    ASSERT_TRUE(big);
    EXPECT_EQ(big->body.size(), 3u << 20);
    EXPECT_TRUE(big->chunked);  // over buffer_limit: streamed
}

TEST_F(StaticFilesTest, EtagRevalidationGets304) {
    Router router;
    router.static_files("/static", root(), {.max_age = std::chrono::seconds(60)});
    TestServer srv(std::move(router));
    Client c(srv.port());
    auto first = c.request(web_test::get("/static/app.js"));
    ASSERT_TRUE(first);
    auto etag = first->header("ETag");
    ASSERT_TRUE(etag);
    EXPECT_EQ(first->header("Cache-Control").value_or(""), "public, max-age=60");
    auto again = c.request(web_test::get("/static/app.js", "If-None-Match: " + *etag + "\r\n"));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 304);
    EXPECT_EQ(again->body, "");
    auto other = c.request(web_test::get("/static/app.js", "If-None-Match: \"nope\"\r\n"));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->status, 200);
}

TEST_F(StaticFilesTest, NoPathLeavesTheRoot) {
    Router router;
    router.static_files("/files", root());
    TestServer srv(std::move(router));
    for (std::string path : {"/files/../secret.txt", "/files/%2e%2e/secret.txt", "/files/%2E%2E%2Fsecret.txt",
                             "/files/sub/../../secret.txt", "/files/escape.txt", "/files/..%2fsecret.txt",
                             "/files//etc/passwd", "/files/%2fetc%2fpasswd"}) {
        Client c(srv.port());
        auto r = c.request(web_test::get(path));
        if (!r) continue;  // a connection closed on a malformed target is fine too
        EXPECT_NE(r->status, 200) << path;
        EXPECT_EQ(r->body.find("top secret"), std::string::npos) << path;
        EXPECT_EQ(r->body.find("root:"), std::string::npos) << path;
    }
}
