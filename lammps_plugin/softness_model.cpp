/* ----------------------------------------------------------------------
   pysoft: linear softness model, see softness_model.h
------------------------------------------------------------------------- */

#include "softness_model.h"

#include "json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

using pysoft::json;

namespace pysoft {

namespace {

std::vector<double> vector_field(const json &root, const std::string &key, int n)
{
  auto it = root.find(key);
  if (it == root.end()) throw SpecError("model is missing the field '" + key + "'");
  if (!it->is_array()) throw SpecError("model field '" + key + "' must be a list of numbers");
  if ((int) it->size() != n)
    throw SpecError("model field '" + key + "' has " + std::to_string(it->size()) +
                    " values, but its spec has " + std::to_string(n) + " feature columns");
  std::vector<double> v;
  for (const auto &x : *it) {
    if (!x.is_number()) throw SpecError("model field '" + key + "' must be a list of numbers");
    double d = x.get<double>();
    if (!std::isfinite(d)) throw SpecError("model field '" + key + "' holds a non-finite value");
    v.push_back(d);
  }
  return v;
}

// the fields whose values decide what the model computes; "metrics", "provenance" and
// "hyperparameters" describe how it was made and may be edited freely
const char *const CHECKED_FIELDS[] = {"spec", "feature_labels", "mean", "scale", "coef", "intercept"};
const std::string CHECKSUM_PREFIX = "fnv1a64:";

void append_u64(std::string &out, uint64_t v)
{
  for (int b = 0; b < 8; b++) out += (char) ((v >> (8 * b)) & 0xff);    // little-endian on any host
}

// The canonical stream of a parsed JSON value: a tag byte, then for a number the bits of its
// double (integers converted, so 8 and 8.0 are one value, as they are to the readers), for a
// string its byte count and UTF-8 bytes, for an array or object its size and its members, the
// object's keys in byte order (nlohmann's objects are sorted maps).
void canonical(const json &v, std::string &out)
{
  switch (v.type()) {
    case json::value_t::null:
      out += 'n';
      break;
    case json::value_t::boolean:
      out += v.get<bool>() ? 't' : 'f';
      break;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: {
      double d = v.get<double>();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      out += 'd';
      append_u64(out, bits);
      break;
    }
    case json::value_t::string: {
      const auto &s = v.get_ref<const std::string &>();
      out += 's';
      append_u64(out, s.size());
      out += s;
      break;
    }
    case json::value_t::array:
      out += 'a';
      append_u64(out, v.size());
      for (const auto &x : v) canonical(x, out);
      break;
    case json::value_t::object:
      out += 'o';
      append_u64(out, v.size());
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += 's';
        append_u64(out, it.key().size());
        out += it.key();
        canonical(it.value(), out);
      }
      break;
    default:
      throw SpecError("model holds a value that is not JSON data");
  }
}

std::string checksum_of(const json &root)
{
  json checked = json::object();
  for (const char *key : CHECKED_FIELDS) {
    auto it = root.find(key);
    if (it != root.end()) checked[key] = *it;
  }
  std::string bytes;
  canonical(checked, bytes);
  uint64_t h = 0xcbf29ce484222325ULL;    // FNV-1a 64-bit offset basis and prime
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char hex[17];
  for (int k = 15; k >= 0; k--, h >>= 4) hex[k] = "0123456789abcdef"[h & 0xf];
  hex[16] = '\0';
  return CHECKSUM_PREFIX + hex;
}

void check_checksum(const json &root)
{
  auto it = root.find("checksum");
  if (it == root.end())
    throw SpecError("model has no 'checksum' of its numbers (written before model version 2); if you "
                    "trust its numbers, add one with: pysoft model --add-checksum <model file>");
  const std::string want = checksum_of(root);
  if (!it->is_string() || it->get_ref<const std::string &>().rfind(CHECKSUM_PREFIX, 0) != 0 ||
      it->get_ref<const std::string &>().size() != want.size())
    throw SpecError("model field 'checksum' must be a string " + CHECKSUM_PREFIX +
                    "<16 hex digits>, as pysoft train writes it");
  if (it->get_ref<const std::string &>() != want)
    throw SpecError("model checksum " + it->get<std::string>() + " does not match its numbers (" + want +
                    "): spec, feature_labels, mean, scale, coef or intercept changed after the model "
                    "was written");
}

}    // namespace

std::string model_checksum(const std::string &text)
{
  json root = parse_json(text, "model");
  if (!root.is_object()) throw SpecError("model must be a JSON object");
  return checksum_of(root);
}

SoftnessModel SoftnessModel::from_json(const std::string &text)
{
  json root = parse_json(text, "model");
  if (!root.is_object()) throw SpecError("model must be a JSON object");
  auto sp = root.find("spec");
  if (sp == root.end()) throw SpecError("model is missing the field 'spec'");
  if (!sp->is_object()) throw SpecError("model field 'spec' must be a JSON object");

  SoftnessModel m;
  m.spec = read_spec(*sp);
  const int n = m.spec.ncols();
  m.mean = vector_field(root, "mean", n);
  m.scale = vector_field(root, "scale", n);
  m.coef = vector_field(root, "coef", n);
  auto ic = root.find("intercept");
  if (ic == root.end()) throw SpecError("model is missing the field 'intercept'");
  if (!ic->is_number() || !std::isfinite(ic->get<double>()))
    throw SpecError("model field 'intercept' must be a finite number");
  m.intercept = ic->get<double>();

  double norm2 = 0.0;
  for (int c = 0; c < n; c++) {
    if (m.scale[c] <= 0.0) throw SpecError("model field 'scale' must be positive (column " +
                                           std::to_string(c + 1) + ")");
    norm2 += m.coef[c] * m.coef[c];
  }
  if (norm2 == 0.0) throw SpecError("model field 'coef' is all zeros: no hyperplane");
  m.norm = std::sqrt(norm2);
  // last, so that a malformed field is named as such rather than as a checksum mismatch
  check_checksum(root);
  return m;
}

double SoftnessModel::softness(const double *x) const
{
  double s = 0.0;
  for (size_t c = 0; c < coef.size(); c++) s += coef[c] * ((x[c] - mean[c]) / scale[c]);
  return (s + intercept) / norm;
}

}    // namespace pysoft
