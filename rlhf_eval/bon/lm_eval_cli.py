"""`rlhf-eval-lm-eval`: lm-eval's own command line with this project's models registered
(`bon`, `rlhf_eval_sampler`); lm-eval's CLI has no plugin mechanism for models."""
from __future__ import annotations

import sys


def main() -> None:
    from lm_eval.__main__ import cli_evaluate

    import rlhf_eval.bon.lm  # noqa: F401  (registers the models)
    sys.exit(cli_evaluate())


if __name__ == "__main__":
    main()
