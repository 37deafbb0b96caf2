/* -*- c++ -*- ----------------------------------------------------------
   pysoft: parsing the JSON text of spec and model files.
   Plain C++, no LAMMPS types.
   The parser is nlohmann/json 3.11.3 (MIT licence), vendored in
   third_party/nlohmann with its licence.  It is the library LAMMPS itself
   bundles (as nlohmann_lmp), so parsing and its messages are the same as
   before; but LAMMPS ships its copy only from 22Jul2025 on, and a CMake
   install of LAMMPS does not install it, so pysoft carries its own.  A
   hand-written reader would have to re-earn the same strictness (numbers,
   escapes, UTF-8, duplicate keys) for no gain.
------------------------------------------------------------------------- */

#ifndef PYSOFT_JSON_READER_H
#define PYSOFT_JSON_READER_H

#include "structure_spec.h"

#include "third_party/nlohmann/json.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace pysoft {

using json = nlohmann::json;

// Parse `text`, the JSON of a `what` ("spec" or "model") file; throws SpecError on one line.
// nlohmann's parse errors name a byte position only.  The parse keeps the path of keys to the
// value being read, so that a bare NaN or Infinity (Python's json module writes them for
// non-finite floats, but they are not JSON) is reported by the field it stands in, as other
// non-finite values are, and any other syntax error says which field it is in.
inline json parse_json(const std::string &text, const std::string &what)
{
  std::vector<std::string> path;    // per open object the current key; "" for an open array
  json::parser_callback_t track = [&path](int, json::parse_event_t event, json &parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        path.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!path.empty()) path.pop_back();
        break;
      case json::parse_event_t::key:
        if (!path.empty()) path.back() = parsed.get<std::string>();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text, track);
  } catch (json::parse_error &e) {
    std::string field;
    for (const auto &k : path)
      if (!k.empty()) field += (field.empty() ? "" : ".") + k;
    // the token the parser stopped in: back up to its start over letters, digits and signs
    size_t end = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, text.size());
    size_t start = end;
    auto in_token = [](char c) { return std::isalnum((unsigned char) c) || c == '-' || c == '+' || c == '.'; };
    while (start > 0 && in_token(text[start - 1])) start--;
    while (end < text.size() && in_token(text[end])) end++;
    std::string token = text.substr(start, end - start);
    std::string word = token;
    if (!word.empty() && (word[0] == '-' || word[0] == '+')) word.erase(0, 1);
    std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::tolower(c); });
    if (word.rfind("nan", 0) == 0 || word.rfind("inf", 0) == 0) {
      if (field.empty()) throw SpecError(what + " holds a non-finite value '" + token.substr(0, 20) +
                                         "' (NaN and Infinity are not JSON)");
      throw SpecError(what + " field '" + field + "' holds a non-finite value '" + token.substr(0, 20) +
                      "' (NaN and Infinity are not JSON)");
    }
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::replace(msg.begin(), msg.end(), '\r', ' ');
    throw SpecError(what + " is not valid JSON" + (field.empty() ? "" : " (in field '" + field + "')") +
                    ": " + msg);
  }
}

// The spec held by an already parsed JSON value (the object itself, or an object holding it
// under "spec"); the checks and messages of StructureSpec::from_json, which calls it.
StructureSpec read_spec(const json &value);

}    // namespace pysoft

#endif
