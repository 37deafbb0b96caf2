/* ----------------------------------------------------------------------
   pysoft: parsing and validation of the structure-function spec.
   The JSON text is read by json_reader.h (pysoft's vendored nlohmann/json).
------------------------------------------------------------------------- */

#include "structure_spec.h"

#include "json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

using pysoft::json;

namespace pysoft {

namespace {

void check_keys(const json &obj, const std::string &where, const std::set<std::string> &allowed)
{
  if (!obj.is_object()) throw SpecError("spec field '" + where + "' must be a JSON object");
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key()))
      throw SpecError("spec has unknown key '" + (where.empty() ? "" : where + ".") + it.key() + "'");
}

const json &require(const json &obj, const std::string &where, const std::string &key)
{
  auto it = obj.find(key);
  if (it == obj.end()) throw SpecError("spec is missing the key '" + where + "." + key + "'");
  return *it;
}

double number(const json &v, const std::string &name)
{
  if (!v.is_number()) throw SpecError("spec field '" + name + "' must be a number");
  double x = v.get<double>();
  if (!std::isfinite(x)) throw SpecError("spec field '" + name + "' must be finite");
  return x;
}

double positive(const json &v, const std::string &name)
{
  double x = number(v, name);
  if (x <= 0.0) throw SpecError("spec field '" + name + "' must be positive, got " + v.dump());
  return x;
}

std::string fmt_g(double x)
{
  char buf[64];
  snprintf(buf, sizeof(buf), "%.6g", x);
  return buf;
}

}    // namespace

double StructureSpec::max_cutoff() const
{
  return has_angular ? std::max(radial_cutoff, angular_cutoff) : radial_cutoff;
}

int StructureSpec::pair_index(int a, int b) const
{
  if (a > b) std::swap(a, b);
  int n = nspecies();
  return a * n - a * (a - 1) / 2 + (b - a);
}

int StructureSpec::species_index(const std::string &name) const
{
  auto it = std::find(species.begin(), species.end(), name);
  return it == species.end() ? -1 : (int) (it - species.begin());
}

std::string StructureSpec::column_label(int c) const
{
  if (c < nradial()) return "G_" + species[c / nmu] + "(" + fmt_g(mu(c % nmu)) + ")";
  c -= nradial();
  int np = (int) params.size();
  int p = c / np, k = c % np;
  int a = 0;
  while (pair_index(a, nspecies() - 1) < p) a++;
  int b = a + (p - pair_index(a, a));
  const AngularParam &q = params[k];
  return "Psi_" + species[a] + "-" + species[b] + "(" + fmt_g(q.xi) + "," + fmt_g(q.lambda) + "," +
      fmt_g(q.zeta) + ")";
}

StructureSpec StructureSpec::from_json(const std::string &text)
{
  return read_spec(parse_json(text, "spec"));
}

StructureSpec read_spec(const json &value)
{
  const json &root =
      value.is_object() && value.contains("spec") && value["spec"].is_object() ? value["spec"] : value;

  check_keys(root, "", {"species", "radial", "angular", "comment"});
  StructureSpec s;

  const json &sp = require(root, "spec", "species");
  if (!sp.is_array() || sp.empty())
    throw SpecError("spec field 'species' must be a non-empty list of names");
  for (const auto &n : sp) {
    if (!n.is_string() || n.get<std::string>().empty())
      throw SpecError("spec field 'species' must hold non-empty strings");
    std::string name = n.get<std::string>();
    if (name == "NULL") throw SpecError("spec species may not be called NULL");
    if (s.species_index(name) >= 0) throw SpecError("spec species '" + name + "' is listed twice");
    s.species.push_back(name);
  }

  const json &rad = require(root, "spec", "radial");
  check_keys(rad, "radial", {"mu", "L", "cutoff"});
  const json &mu = require(rad, "radial", "mu");
  if (!mu.is_array() || mu.size() != 3)
    throw SpecError("spec field 'radial.mu' must be [first, last, step]");
  double first = number(mu[0], "radial.mu[0] (first)");
  double last = number(mu[1], "radial.mu[1] (last)");
  double step = positive(mu[2], "radial.mu[2] (step)");
  if (last < first) throw SpecError("spec field 'radial.mu': last must not be below first");
  double nsteps = (last - first) / step;
  double rounded = std::round(nsteps);
  // both ends are included, so (last - first) must be a whole number of steps
  if (std::fabs(nsteps - rounded) > 1e-6)
    throw SpecError("spec field 'radial.mu': (last - first) is not a whole number of steps");
  if (rounded > 100000) throw SpecError("spec field 'radial.mu' asks for more than 100000 values");
  s.mu_first = first;
  s.mu_step = step;
  s.nmu = (int) rounded + 1;
  s.L = positive(require(rad, "radial", "L"), "radial.L");
  s.radial_cutoff = positive(require(rad, "radial", "cutoff"), "radial.cutoff");

  auto ang_it = root.find("angular");
  if (ang_it != root.end() && !ang_it->is_null()) {
    const json &ang = *ang_it;
    check_keys(ang, "angular", {"cutoff", "params"});
    s.has_angular = true;
    s.angular_cutoff = positive(require(ang, "angular", "cutoff"), "angular.cutoff");
    const json &ps = require(ang, "angular", "params");
    if (!ps.is_array() || ps.empty())
      throw SpecError("spec field 'angular.params' must be a non-empty list of [xi, lambda, zeta]");
    for (size_t k = 0; k < ps.size(); k++) {
      std::string where = "angular.params[" + std::to_string(k) + "]";
      if (!ps[k].is_array() || ps[k].size() != 3)
        throw SpecError("spec field '" + where + "' must be [xi, lambda, zeta]");
      AngularParam q;
      q.xi = positive(ps[k][0], where + " (xi)");
      q.lambda = number(ps[k][1], where + " (lambda)");
      if (q.lambda < -1.0 || q.lambda > 1.0)
        throw SpecError("spec field '" + where + " (lambda)' must lie in [-1, 1]");
      q.zeta = positive(ps[k][2], where + " (zeta)");
      s.params.push_back(q);
    }
  }
  return s;
}

}    // namespace pysoft
