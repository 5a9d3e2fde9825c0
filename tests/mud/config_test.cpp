// mud_server's settings: flags, the JSON config file, and clear errors for bad ones.
#include "config.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace mud;

namespace {

bool parse(std::vector<std::string> args, Config& c) {
    std::vector<char*> argv;
    std::string prog = "mud_server";
    argv.push_back(prog.data());
    for (auto& a : args) argv.push_back(a.data());
    return parse_flags(static_cast<int>(argv.size()), argv.data(), c);
}

std::string error_of(std::vector<std::string> args) {
    Config c;
    try {
        parse(std::move(args), c);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::filesystem::path write_file(std::string_view name, std::string_view text) {
    auto path = std::filesystem::temp_directory_path() / name;
    std::ofstream(path) << text;
    return path;
}

}  // namespace

TEST(Config, DefaultsServeLoopbackPort4000WithTheShippedWorld) {
    Config c;
    ASSERT_TRUE(parse({}, c));
    EXPECT_EQ(c.host, "127.0.0.1");
    EXPECT_EQ(c.port, 4000);
    EXPECT_TRUE(std::filesystem::exists(c.world)) << c.world;
    EXPECT_TRUE(std::filesystem::exists(c.www / "index.html")) << c.www;
}

TEST(Config, FlagsSetEverySetting) {
    Config c;
    ASSERT_TRUE(parse({"--port", "0", "--host", "127.0.0.2", "--tick-hz", "50", "--admin", "Root", "--admin", "Sue",
                       "--hash-cost", "min", "--idle-timeout-s", "30", "--max-connections-per-ip", "3", "--threads", "2"},
                      c));
    EXPECT_EQ(c.port, 0);
    EXPECT_EQ(c.host, "127.0.0.2");
    EXPECT_EQ(c.tick_hz, 50);
    EXPECT_EQ(c.game.admins, (std::vector<std::string>{"Root", "Sue"}));
    EXPECT_EQ(c.hash_cost, HashCost::min);
    EXPECT_EQ(c.game.idle_timeout, std::chrono::seconds(30));
    EXPECT_EQ(c.game.max_connections_per_ip, 3u);
    EXPECT_EQ(c.threads, "2");
}

TEST(Config, BadFlagsNameTheFlag) {
    EXPECT_NE(error_of({"--port", "70000"}).find("--port"), std::string::npos);
    EXPECT_NE(error_of({"--port", "12ab"}).find("12ab"), std::string::npos);
    EXPECT_NE(error_of({"--bogus", "1"}).find("--bogus: unknown setting"), std::string::npos);
    EXPECT_NE(error_of({"--port"}).find("needs a value"), std::string::npos);
    EXPECT_NE(error_of({"--hash-cost", "cheap"}).find("interactive, moderate or min"), std::string::npos);
    EXPECT_NE(error_of({"--threads", "many"}).find("--threads"), std::string::npos);
    EXPECT_NE(error_of({"stray"}).find("unexpected argument"), std::string::npos);
}

TEST(Config, FileIsReadAndFlagsWin) {
    auto file = write_file("mud_config_test.json",
                           R"({"port": 4100, "tick_hz": 10, "admins": ["Root"], "world": "/tmp/w.json", "hash_cost": "moderate"})");
    Config c;
    ASSERT_TRUE(parse({"--port", "4200", "--config", file.string()}, c));
    EXPECT_EQ(c.port, 4200);
    EXPECT_EQ(c.tick_hz, 10);
    EXPECT_EQ(c.world, "/tmp/w.json");
    EXPECT_EQ(c.hash_cost, HashCost::moderate);
    EXPECT_EQ(c.game.admins, std::vector<std::string>{"Root"});
}

TEST(Config, BadFilesNameTheFileAndKey) {
    auto broken = write_file("mud_config_broken.json", R"({"port": 4100,)");
    EXPECT_NE(error_of({"--config", broken.string()}).find("mud_config_broken.json"), std::string::npos);
    auto wrong = write_file("mud_config_wrong.json", R"({"port": true})");
    EXPECT_NE(error_of({"--config", wrong.string()}).find("\"port\": expected a string or an integer"), std::string::npos);
    auto unknown = write_file("mud_config_unknown.json", R"({"prot": 1})");
    EXPECT_NE(error_of({"--config", unknown.string()}).find("\"prot\": unknown setting"), std::string::npos);
    auto list = write_file("mud_config_list.json", R"({"port": [1]})");
    EXPECT_NE(error_of({"--config", list.string()}).find("a list is not allowed"), std::string::npos);
    EXPECT_NE(error_of({"--config", "/nonexistent/mud.json"}).find("/nonexistent/mud.json"), std::string::npos);
}
