// eavdb — ErrorCode names.
#include "eavdb/error.h"

namespace eavdb {

std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kSyntax: return "syntax";
    case ErrorCode::kTypeMismatch: return "type_mismatch";
    case ErrorCode::kConstraint: return "constraint";
    case ErrorCode::kSchema: return "schema";
    case ErrorCode::kVersion: return "version";
    case ErrorCode::kStorage: return "storage";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kLimit: return "limit";
    case ErrorCode::kTimeout: return "timeout";
  }
  return "unknown";
}

}  // namespace eavdb
