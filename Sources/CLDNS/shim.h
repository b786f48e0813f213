// Umbrella header for libldns (apt: libldns-dev). Only the Zones target imports this module.
#include <stdio.h>
#include <ldns/ldns.h>
