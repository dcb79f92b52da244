/* Listen-address parsing ("host:port", "[v6]:port", ":port"). Pure functions, any thread. */
#ifndef CM_NET_H
#define CM_NET_H

#include <stddef.h>

/* Splits s into host (copied into host[hostlen]; "" means every address) and port (0..65535;
 * 0 asks the kernel for any free port).
 * Returns 0 or -EINVAL with the reason in err. */
int cm_hostport_parse(const char *s, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen);

/* cm_opt_check_cb for listen-address options. */
int cm_hostport_check(const char *value, char *err, size_t errlen);

#endif
