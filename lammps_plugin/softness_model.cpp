/* ----------------------------------------------------------------------
   pysoft: linear softness model, see softness_model.h
------------------------------------------------------------------------- */

#include "softness_model.h"

#include "json_reader.h"

#include <algorithm>
#include <cmath>

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

}    // namespace

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
  return m;
}

double SoftnessModel::softness(const double *x) const
{
  double s = 0.0;
  for (size_t c = 0; c < coef.size(); c++) s += coef[c] * ((x[c] - mean[c]) / scale[c]);
  return (s + intercept) / norm;
}

}    // namespace pysoft
