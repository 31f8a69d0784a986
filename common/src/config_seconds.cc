// OptionSet::AddSeconds: durations as ghz and Go write them ("500ms", "10s", "1m30s") or a
// bare number of seconds.
#include <algorithm>
#include <cctype>
#include <iterator>
#include <sstream>
#include <utility>

#include "config_parse.h"
#include "krpc/config.h"

namespace krpc {
namespace {
using config_parse::Bad;
using config_parse::ParseNumber;

// "10" (seconds), "1.5s", "500ms", "1m30s": the sum of number-unit pairs, or a bare number.
bool ParseSeconds(std::string_view text, double* out) {
  if (text.empty()) return false;
  double bare = 0;
  if (ParseNumber(text, &bare)) {
    *out = bare;
    return true;
  }
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0}};
  double total = 0;
  while (!text.empty()) {
    size_t n = 0;
    while (n < text.size() && (std::isdigit(static_cast<unsigned char>(text[n])) || text[n] == '.')) ++n;
    double x = 0;
    if (n == 0 || !ParseNumber(text.substr(0, n), &x)) return false;
    text.remove_prefix(n);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u]))) ++u;
    const std::string_view unit = text.substr(0, u);
    const auto* found = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& k) { return k.first == unit; });
    if (found == std::end(kUnits)) return false;
    total += x * found->second;
    text.remove_prefix(u);
  }
  *out = total;
  return true;
}

}  // namespace

void OptionSet::AddSeconds(std::string key, double* seconds, double min, double max, std::string help) {
  Add(std::move(key), {std::move(help),
                       [=](std::string_view v) {
                         double x = 0;
                         if (!ParseSeconds(v, &x)) return Bad("not a duration (seconds, or e.g. 500ms, 10s, 1m30s)");
                         if (x < min || x > max) {
                           std::ostringstream os;
                           os << "out of range [" << min << "s, " << max << "s]";
                           return Bad(os.str());
                         }
                         *seconds = x;
                         return Status::Ok();
                       },
                       [seconds] {
                         std::ostringstream os;
                         os << *seconds << "s";
                         return os.str();
                       }});
}

}  // namespace krpc
