/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_kubeconfig.c -- kubeconfig files: YAML to json-c through libyaml, context
 * resolution and the base64 of embedded certificates and keys.
 *
 * kubeconfig_parse() is pure (touches no files), so any input is safe to try.
 */
#include "fuzz_util.h"
#include "kubeconfig.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_config *cfg = NULL;
	json_object *tree = NULL;
	char err[256], *dec = NULL;
	size_t dec_len = 0;

	fuzz_quiet();
	if (kubeconfig_yaml_parse((const char *)data, size, &tree, err, sizeof(err)) == 0) {
		json_object_put(tree);
	} else {
		fuzz_check(memchr(err, '\0', sizeof(err)) != NULL);
	}
	if (kubeconfig_parse((const char *)data, size, "/nonexistent", NULL, &cfg, err,
			     sizeof(err)) == 0) {
		fuzz_check(cfg != NULL && cfg->server != NULL);
		k8s_config_free(cfg);
	}
	if (kubeconfig_base64_decode((const char *)data, size, &dec, &dec_len) == 0) {
		fuzz_check(dec_len <= size && dec[dec_len] == '\0');
		free(dec);
	}
	return 0;
}
