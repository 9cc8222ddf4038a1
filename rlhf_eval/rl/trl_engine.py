"""Local RL with TRL's GRPOTrainer / RLOOTrainer (PPO proper was removed from TRL).

The RM is a reward function over (prompt, completion) through our own scorer, so classifier and
implicit RMs plug in the same way; when a gold verifier exists it is logged beside the proxy
reward with weight 0, which shows over-optimization as it happens.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from transformers.trainer_callback import PrinterCallback

from rlhf_eval.config import RLSettings
from rlhf_eval.data.pairs import prompt_messages
from rlhf_eval.device import checkpointing_args, saved_parameters, torch_device
from rlhf_eval.rl.base import RLJob


def _rm_reward(scorer):
    def rm(prompts, completions, **kwargs):
        return scorer.score(prompts, [c[-1]["content"] for c in completions])
    return rm


def _gold_reward(verify):
    def gold(prompts, completions, **kwargs):
        return [float(verify(p[-1]["content"], c[-1]["content"])) for p, c in zip(prompts, completions)]
    return gold


def checkpoints(trainer_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the HF Trainer's `checkpoint-<step>` saves, in step order."""
    # trainer_state.json is written last, so a checkpoint cut short by a kill is skipped.
    found = [(int(d.name.split("-")[1]), d) for d in Path(trainer_dir).glob("checkpoint-*")
             if d.name.split("-")[1].isdigit() and (d / "trainer_state.json").is_file()]
    return sorted(found)


def train(ctx, job: RLJob, progress) -> dict:
    """ENGINES["trl"]: the RM is loaded here and scores each step's samples in this process."""
    from rlhf_eval.progress import BarCallback
    from rlhf_eval.rm.base import load_scorer
    from rlhf_eval.rm.judge import judge_report
    scorer = load_scorer(ctx.inputs["rm"], shares_gpu=True)
    out = fit(job.policy_path, [r["prompt"] for r in job.rows], scorer, job.rl, job.seed, ctx.dir, verify=job.verify,
              callbacks=[BarCallback(progress)], keep_dir=ctx.keep_dir)
    return out | {"judge": judge_report(scorer)}


def fit(policy_path: str, prompts: list, scorer, rl: RLSettings, seed: int, out_dir: Path, verify=None,
        callbacks=(), keep_dir: Path | None = None) -> dict:
    """Checkpoints (model, optimizer, RNG) go to keep_dir every rl.save_every steps; a rerun
    after a kill resumes from the last one."""
    import torch
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(policy_path)
    tok.padding_side = "left"
    ds = Dataset.from_list([{"prompt": prompt_messages(p)} for p in prompts])
    funcs = [_rm_reward(scorer)] + ([_gold_reward(verify)] if verify else [])
    trainer_dir = (keep_dir or out_dir) / "trainer"
    common = dict(
        output_dir=str(trainer_dir), max_steps=rl.steps, learning_rate=rl.learning_rate,
        per_device_train_batch_size=rl.prompts_per_step * rl.samples_per_prompt,
        num_generations=rl.samples_per_prompt, max_completion_length=rl.max_new_tokens,
        temperature=rl.temperature, beta=rl.kl_coef, reward_weights=[1.0] + [0.0] * (len(funcs) - 1),
        use_cpu=torch_device() == "cpu", bf16=False, report_to="none", save_strategy="steps",
        save_steps=rl.save_every, logging_steps=1,
        disable_tqdm=True, seed=seed, data_seed=seed, dataloader_num_workers=0,
        **checkpointing_args(rl.gradient_checkpointing, saved_parameters(policy_path)),
    )
    config_cls, trainer_cls = (GRPOConfig, GRPOTrainer) if rl.algorithm == "grpo" else (RLOOConfig, RLOOTrainer)
    trainer = trainer_cls(model=policy_path, reward_funcs=funcs, args=config_cls(**common),
                          train_dataset=ds, processing_class=tok, callbacks=list(callbacks))
    trainer.remove_callback(PrinterCallback)
    done = checkpoints(trainer_dir)
    resume = done[-1] if done else None
    trainer.train(resume_from_checkpoint=str(resume[1]) if resume else None)
    model_dir = out_dir / "model"
    trainer.save_model(str(model_dir))
    tok.padding_side = "right"
    tok.save_pretrained(model_dir)
    history = [{"step": h["step"], "proxy": h.get("rewards/rm/mean"), "gold": h.get("rewards/gold/mean"),
                "kl": h.get("kl")} for h in trainer.state.log_history if "rewards/rm/mean" in h]
    return {"path": str(model_dir), "history": history, "resumed_from": resume[0] if resume else None,
            "checkpoints": [{"step": s, "path": str(p)} for s, p in checkpoints(trainer_dir) if s < rl.steps]
            + [{"step": rl.steps, "path": str(model_dir)}]}
