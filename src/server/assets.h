// eavdb::server — static files compiled into the binary (the dashboard's page, script and style).
//
// The table is generated at build time from src/server/assets/* by cmake/embed_assets.cmake
// (the generated source lives in the build directory, never in git). Thread-safe: constant data.
#pragma once

#include <string_view>

namespace eavdb::server {

/// One compiled-in file.
struct Asset {
  std::string_view name;          ///< file name, e.g. "dashboard.js"
  std::string_view content_type;  ///< e.g. "text/javascript; charset=utf-8"
  std::string_view body;          ///< the file's bytes
};

/// The asset called `name`, or nullptr. Names are plain file names (no directories).
const Asset* find_asset(std::string_view name) noexcept;

}  // namespace eavdb::server
