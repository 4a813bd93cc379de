/*
 * nopie: a static program that is NOT position-independent (gcc -static
 * -no-pie, ELF type EXEC). The containers' OCI image carries it at
 * /bin/nopie as the entrypoint nabla-runtime must refuse: the no-MMU
 * guest can only load position-independent programs.
 */
#include <stdio.h>

int main(void)
{
	puts("nopie: ran (a non-PIE program)");
	return 0;
}
