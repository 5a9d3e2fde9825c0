// validate_test: tables of acceptable and refused client input (package names, repository
// URLs, refs, priorities), including the shapes of argument and transport injection that a
// hostile client would send to a server that runs git.
#include "validate.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/temp_dir.hpp"

namespace {

struct Bad {
    std::string value;
    std::string message_part;  // the refusal must say this
};

void expect_good(std::string (*check)(std::string_view), const std::vector<std::string>& values) {
    for (const std::string& v : values) EXPECT_EQ(check(v), "") << "should accept: " << v;
}

void expect_bad(std::string (*check)(std::string_view), std::string_view field,
                const std::vector<Bad>& values) {
    for (const Bad& b : values) {
        const std::string message = check(b.value);
        EXPECT_NE(message, "") << "should refuse: " << b.value;
        EXPECT_TRUE(message.starts_with(std::string(field) + ": ")) << message;
        EXPECT_NE(message.find(b.message_part), std::string::npos)
            << "refusing " << b.value << " said \"" << message << "\", expected it to say \""
            << b.message_part << "\"";
    }
}

TEST(PackageNameTest, AcceptsPlainNames) {
    expect_good(br::check_package_name,
                {"hello", "a", "9lives", "zig-json_2.0", "A.b-c_d", std::string(64, 'x')});
}

TEST(PackageNameTest, RefusesPathsControlCharactersAndLongNames) {
    expect_bad(br::check_package_name, "name",
               {{"", "required"},
                {std::string(65, 'x'), "64"},
                {"-rf", "start with a letter or digit"},
                {".hidden", "start with a letter or digit"},
                {"_x", "start with a letter or digit"},
                {"a..b", ".."},
                {"../etc", "start with a letter or digit"},
                {"a/b", "only letters"},
                {"a b", "only letters"},
                {"a\nb", "only letters"},
                {std::string("a\0b", 3), "only letters"},
                {"caf\xc3\xa9", "only letters"},
                {"a%2fb", "only letters"},
                {"<script>", "start with a letter or digit"}});
}

class RepoUrlTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::filesystem::create_directories(dir / "work");
        ASSERT_EQ(std::system(("git init -q " + (dir / "work").string()).c_str()), 0);
        ASSERT_EQ(std::system(("git init -q --bare " + (dir / "bare.git").string()).c_str()), 0);
        std::filesystem::create_directories(dir / "plain");
        std::ofstream(dir / "plain" / "HEAD") << "ref: refs/heads/main\n";  // no objects/
    }
    std::string file_url(std::string_view name) const { return "file://" + (dir / name).string(); }
    TempDir dir{"br-validate"};
};

TEST_F(RepoUrlTest, AcceptsTheFiveSchemes) {
    expect_good(br::check_repo_url,
                {"https://github.com/ziglang/zig.git", "https://github.com/ziglang/zig",
                 "http://example.com/repo.git", "https://example.com:8443/a/b.git",
                 "git://example.com/project.git", "ssh://git@github.com/owner/repo.git",
                 "ssh://example.com:2222/srv/repo.git", "https://[::1]:8080/repo.git",
                 "https://127.0.0.1/repo", "https://example.com/a%20b.git",
                 "https://example.com/repo.git?x=1", file_url("work"), file_url("work") + "/",
                 file_url("bare.git"), file_url("work/.git"),
                 std::string("https://example.com/") + std::string(2000, 'a')});
}

TEST_F(RepoUrlTest, RefusesOptionInjection) {
    expect_bad(br::check_repo_url, "repo_url",
               {{"--upload-pack=touch /tmp/x", "must not start with '-'"},
                {"-u", "must not start with '-'"},
                {"--config=core.sshCommand=touch /tmp/x", "must not start with '-'"},
                {"ssh://-oProxyCommand=touch%20/tmp/x/repo", "host must not start with '-'"},
                {"ssh://-oProxyCommand=sh/repo", "host must not start with '-'"},
                {"ssh://git@-oProxyCommand=x/repo", "host must not start with '-'"},
                {"ssh://-oProxyCommand=x@host/repo", "user name must not start with '-'"},
                {"ssh://[-oProxyCommand=x]/repo", "IPv6"},
                {"https://-x.example.com/repo", "host must not start with '-'"}});
}

TEST_F(RepoUrlTest, RefusesRemoteHelpersAndOtherTransports) {
    expect_bad(
        br::check_repo_url, "repo_url",
        {{"ext::sh -c touch% /tmp/pwned", "whitespace"},
         {"ext::sh%20-c%20id", "ext:: and fd::"},
         {"EXT::sh", "ext:: and fd::"},
         {"fd::17", "ext:: and fd::"},
         {"fd::0,1/repo", "ext:: and fd::"},
         {"https::example.com/repo", "<transport>::<address>"},
         {"git@github.com:owner/repo.git", "only https, http, git, ssh and file URLs are accepted"},
         {"/srv/repo.git", "only https, http, git, ssh and file URLs are accepted"},
         {"../repo", "only https, http, git, ssh and file URLs are accepted"},
         {"ftp://example.com/repo", "only https, http, git, ssh and file URLs are accepted"},
         {"git+ssh://example.com/repo", "only https, http, git, ssh and file URLs are accepted"},
         {"HTTPS://example.com/repo", "only https, http, git, ssh and file URLs are accepted"},
         {"https:/example.com/repo", "only https, http, git, ssh and file URLs are accepted"},
         {"javascript:alert(1)", "only https, http, git, ssh and file URLs are accepted"}});
}

TEST_F(RepoUrlTest, RefusesControlCharactersWhitespaceAndLongValues) {
    expect_bad(br::check_repo_url, "repo_url",
               {{"", "required"},
                {"https://example.com/repo\n", "whitespace and control"},
                {"https://example.com/re po", "whitespace and control"},
                {"https://example.com/re\tpo", "whitespace and control"},
                {std::string("https://example.com/repo\0.git", 29), "whitespace and control"},
                {"https://example.com/\x7f", "whitespace and control"},
                {"https://ex\xc3\xa4mple.com/repo", "only ASCII"},
                {std::string("https://example.com/") + std::string(2100, 'a'), "2048"}});
}

TEST_F(RepoUrlTest, RefusesEncodedTricksCredentialsAndBadHosts) {
    expect_bad(br::check_repo_url, "repo_url",
               {{"https://example.com/a/../b", "\"..\" path segments"},
                {"https://example.com/a/%2e%2e/b", "\"..\" path segments"},
                {"https://example.com/a/%2E%2E", "\"..\" path segments"},
                {"https://example.com/repo%0a", "percent-encoded control"},
                {"https://example.com/repo%00.git", "percent-encoded control"},
                {"https://example.com/repo%zz", "malformed percent-encoding"},
                {"https://example.com/repo%4", "malformed percent-encoding"},
                {"https://user:secret@example.com/repo", "credentials"},
                {"https://token@example.com/repo", "credentials"},
                {"ssh://git:pw@example.com/repo", "passwords"},
                {"https://example.com", "repository path is required"},
                {"https://example.com/", "repository path is required"},
                {"https:///repo", "host is required"},
                {"https://:80/repo", "host is required"},
                {"https://exa%6dple.com/repo", "host may hold only"},
                {"https://example.com:0/repo", "bad port"},
                {"https://example.com:99999/repo", "bad port"},
                {"https://example.com:/repo", "bad port"},
                {"https://example.com:80:80/repo", "bad port"},
                {"https://[::1/repo", "unclosed"}});
}

TEST_F(RepoUrlTest, FileUrlsMustNameAGitRepository) {
    expect_bad(br::check_repo_url, "repo_url",
               {{"file:///etc", "file:///etc is not a git repository"},
                {"file:///", "repository path is required"},
                {"file://", "repository path is required"},
                {"file:///nonexistent/repo", "is not a git repository"},
                {file_url("plain"), "is not a git repository"},
                {file_url("work") + "/../work", "\"..\" path segments"},
                {file_url("work/..") + "/work", "\"..\" path segments"},
                {"file://localhost" + (dir / "work").string(), "no host"},
                {"file://evil.example.com/repo", "no host"},
                {file_url("w%6frk"), "percent-encoding is not allowed"},
                {file_url("work") + "?x", "'?', '#'"},
                {"file:///etc/passwd", "is not a git repository"},
                {"file:///proc/self/cwd", "/proc, /sys and /dev"},
                {"file:////./proc/1/root/srv/repo", "/proc, /sys and /dev"},
                {"file:///sys/kernel", "/proc, /sys and /dev"},
                {"file:///dev/fd/3", "/proc, /sys and /dev"}});
}

TEST(RefTest, AcceptsHeadBranchesTagsAndShas) {
    expect_good(br::check_ref,
                {"", "main", "HEAD", "v1.2.3", "release/2.x", "refs/heads/main", "refs/tags/v1",
                 "feature_x-y", "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
                 "4B825DC642CB6EB9A060E54BF8D69288FBEE4904", "a@b", std::string(255, 'r')});
}

TEST(RefTest, RefusesWhatGitCheckRefFormatRefuses) {
    expect_bad(br::check_ref, "ref",
               {{"--upload-pack=x", "must not start with '-'"},
                {"-b", "must not start with '-'"},
                {"a..b", "\"..\""},
                {"../../etc", "\"..\""},
                {"main\n", "whitespace and control"},
                {std::string("ma\0in", 5), "whitespace and control"},
                {"my branch", "whitespace and control"},
                {"a~1", "~ ^ :"},
                {"a^", "~ ^ :"},
                {"a:b", "~ ^ :"},
                {"a?", "~ ^ :"},
                {"a*", "~ ^ :"},
                {"a[0]", "~ ^ :"},
                {"a\\b", "~ ^ :"},
                {"a@{1}", "@{"},
                {"@", "\"@\" alone"},
                {"/main", "'/'"},
                {"main/", "'/'"},
                {"a//b", "\"//\""},
                {"main.", "end with '.'"},
                {".hidden", "start with '.'"},
                {"refs/.x/y", "start with '.'"},
                {"main.lock", ".lock"},
                {"refs/heads/x.lock/y", ".lock"},
                {"caf\xc3\xa9", "only ASCII"},
                {std::string(256, 'r'), "255"}});
}

TEST(PriorityTest, AcceptsMinus100To100) {
    for (long long p : {-100LL, -1LL, 0LL, 1LL, 100LL}) EXPECT_EQ(br::check_priority(p), "") << p;
    for (long long p : {-101LL, 101LL, 1LL << 40, -(1LL << 40)}) {
        const std::string message = br::check_priority(p);
        EXPECT_TRUE(message.starts_with("priority: ")) << p << ": " << message;
    }
}

}  // namespace
