// tests/apps/temp_dir.hpp: a fresh directory under /tmp for one test, removed with its
// contents (the apps' tests keep real SQLite files there).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

class TempDir {
  public:
    explicit TempDir(std::string_view prefix = "dally-apps-test") {
        std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = tmpl;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(m_path, ignored);
    }
    std::filesystem::path operator/(std::string_view name) const { return m_path / name; }

  private:
    std::filesystem::path m_path;
};
