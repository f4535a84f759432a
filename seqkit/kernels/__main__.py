import sys

from seqkit.kernels import main

sys.exit(main())
