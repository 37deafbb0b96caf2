/* ----------------------------------------------------------------------
   pysoft: which file a spec argument names, see spec_files.h
------------------------------------------------------------------------- */

#include "spec_files.h"

#include <algorithm>
#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

namespace pysoft {

namespace {

const std::string PREFIX = "spec_", SUFFIX = ".json";

bool exists(const std::string &path)
{
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string parent(const std::string &path)
{
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}    // namespace

std::string data_dir()
{
  Dl_info info;
  if (dladdr((void *) &data_dir, &info) && info.dli_fname)
    return parent(parent(info.dli_fname)) + "/data";
  return "";
}

std::string find_spec_file(const std::string &arg)
{
  if (arg.empty()) return "";
  if (exists(arg)) return arg;
  if (arg.find('/') != std::string::npos || arg.find('.') != std::string::npos) return "";
  const std::string shipped = data_dir() + "/" + PREFIX + arg + SUFFIX;
  return exists(shipped) ? shipped : "";
}

std::vector<std::string> shipped_spec_names()
{
  std::vector<std::string> names;
  DIR *dir = opendir(data_dir().c_str());
  if (!dir) return names;
  while (const dirent *entry = readdir(dir)) {
    const std::string file = entry->d_name;
    if (file.size() <= PREFIX.size() + SUFFIX.size() || file.compare(0, PREFIX.size(), PREFIX) != 0 ||
        file.compare(file.size() - SUFFIX.size(), SUFFIX.size(), SUFFIX) != 0)
      continue;
    const std::string name = file.substr(PREFIX.size(), file.size() - PREFIX.size() - SUFFIX.size());
    // only what the rule maps back to this file: a name with '.' in it is read as a path
    if (name.find('.') == std::string::npos) names.push_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

}    // namespace pysoft
