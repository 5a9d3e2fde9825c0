// Router matching: literals, parameters, rest parameters, 404/405, HEAD via GET.
#include "dally/web/router.hpp"

#include <gtest/gtest.h>

using namespace dally;
using namespace dally::web;

namespace {

Handler tagged(int tag) {
    return [tag](Request&) -> Task<Response> { co_return Response::text(200, std::to_string(tag)); };
}

Request make(Method m, std::string path) {
    Request r;
    r.method = m;
    r.path = std::move(path);
    return r;
}

}  // namespace

TEST(Router, MatchesLiteralsAndParameters) {
    Router router;
    router.get("/", tagged(0))
        .get("/api/builds/{id}", tagged(1))
        .post("/api/builds/{id}/cancel", tagged(2))
        .get("/api/builds/{id}/log", tagged(3));

    Request root = make(Method::get, "/");
    EXPECT_NE(router.match(root).handler, nullptr);

    Request b = make(Method::get, "/api/builds/42");
    auto m = router.match(b);
    ASSERT_NE(m.handler, nullptr);
    EXPECT_EQ(b.param("id"), "42");

    Request c = make(Method::post, "/api/builds/7/cancel");
    ASSERT_NE(router.match(c).handler, nullptr);
    EXPECT_EQ(c.param("id"), "7");

    Request l = make(Method::get, "/api/builds/7/log");
    ASSERT_NE(router.match(l).handler, nullptr);
    EXPECT_EQ(l.param("id"), "7");
}

TEST(Router, UnknownPathIs404AndWrongMethodIs405WithAllow) {
    Router router;
    router.get("/things/{id}", tagged(1)).del("/things/{id}", tagged(2));
    Request missing = make(Method::get, "/nothing");
    EXPECT_EQ(router.match(missing).status, 404);
    Request empty_param = make(Method::get, "/things/");
    EXPECT_EQ(router.match(empty_param).status, 404);
    Request too_deep = make(Method::get, "/things/1/more");
    EXPECT_EQ(router.match(too_deep).status, 404);

    Request post = make(Method::post, "/things/3");
    auto m = router.match(post);
    EXPECT_EQ(m.handler, nullptr);
    EXPECT_EQ(m.status, 405);
    EXPECT_EQ(m.allow, "GET, HEAD, DELETE");
    EXPECT_TRUE(post.params.empty());
}

TEST(Router, HeadIsServedByTheGetRoute) {
    Router router;
    router.get("/page", tagged(1));
    Request head = make(Method::head, "/page");
    EXPECT_NE(router.match(head).handler, nullptr);
}

TEST(Router, RestParameterTakesTheRemainder) {
    Router router;
    router.get("/files/{path...}", tagged(1));
    Request deep = make(Method::get, "/files/a/b/c.txt");
    ASSERT_NE(router.match(deep).handler, nullptr);
    EXPECT_EQ(deep.param("path"), "a/b/c.txt");
    Request dir = make(Method::get, "/files/");
    ASSERT_NE(router.match(dir).handler, nullptr);
    EXPECT_EQ(dir.param("path"), "");
    Request bare = make(Method::get, "/files");
    ASSERT_NE(router.match(bare).handler, nullptr);
    EXPECT_EQ(bare.param("path"), "");
}

TEST(Router, FirstAddedRouteWins) {
    Router router;
    router.get("/x/special", tagged(1)).get("/x/{name}", tagged(2));
    Request special = make(Method::get, "/x/special");
    auto m = router.match(special);
    ASSERT_NE(m.handler, nullptr);
    EXPECT_TRUE(special.params.empty());
    Request other = make(Method::get, "/x/other");
    ASSERT_NE(router.match(other).handler, nullptr);
    EXPECT_EQ(other.param("name"), "other");
}

TEST(Router, WebSocketRoutesAreReportedSeparately) {
    Router router;
    router.websocket("/ws", {}, [](std::shared_ptr<WebSocket>, Request&) -> Task<void> { co_return; });
    Request ws = make(Method::get, "/ws");
    auto m = router.match(ws);
    EXPECT_EQ(m.handler, nullptr);
    EXPECT_NE(m.websocket, nullptr);
    Request head = make(Method::head, "/ws");
    EXPECT_EQ(router.match(head).status, 405);
}

TEST(Router, BadPatternsThrow) {
    Router router;
    EXPECT_THROW(router.get("no-slash", tagged(1)), std::invalid_argument);
    EXPECT_THROW(router.get("/a/{rest...}/b", tagged(1)), std::invalid_argument);
    EXPECT_THROW(router.get("/a/{}", tagged(1)), std::invalid_argument);
    EXPECT_THROW(router.get("/a", Handler{}), std::invalid_argument);
}
