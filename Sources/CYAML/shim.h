// Debian's libyaml (libyaml-dev): the YAML 1.1 event parser under SensorIO's bounded reader.
#include <yaml.h>
