# bash completion for vramcalc (installed to share/bash-completion/completions/vramcalc).
_vramcalc() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
  }
  local commands="estimate fit sweep models gpus recipes deepspeed-estimate"
  local output="--format --units --color --help --version"
  local estimate="--model --seq --batch --grad-accum --precision --optimizer --attention --grad-ckpt --loss --mask
    --loss-chunks --gpu --gpu-mem --cuda-context --fragmentation --explain --zero --gpus --gpus-per-node
    --offload-optimizer --offload-params --zero-init --no-zero-init --load-dtype --interconnect --nccl-channels
    --cpu-mem --deepspeed --recipe --kernels --fused-norm --fused-rope --fused-swiglu --ac-every --optimizer-in-backward --infer --kv-dtype
    --lora-rank --lora-targets --lora-dropout --lora-dtype --base-quant --no-double-quant --kbit-upcast --dora --offload-activations --compile --fp8 --fp8-all-gather --fp8-amax-history-len --fp8-param-gather --tp-comm-overlap --target-seq --dropout
    --tp --sp --cp --pp --pp-schedule --microbatches --virtual-stages --megatron-optimizer
    --fsdp --reshard-after-forward --param-dtype --reduce-dtype --head --num-labels
    --ep --moe-imbalance --moe-capacity-factor --moe-pad-to-capacity --dp-replicate --fsdp-offload --hidden-dropout --fsdp-wrap"
  case "$prev" in
    -m|--model)
      COMPREPLY=($(compgen -W "$(vramcalc models --format csv 2>/dev/null | tail -n +2 | cut -d, -f1)" -- "$cur"))
      compopt -o filenames 2>/dev/null
      COMPREPLY+=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
      return ;;
    --deepspeed)
      compopt -o filenames 2>/dev/null
      COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
      return ;;
    --recipe) COMPREPLY=($(compgen -W "$(vramcalc recipes --format csv 2>/dev/null | tail -n +2 | cut -d, -f1)" -- "$cur")); return ;;
    --gpu) COMPREPLY=($(compgen -W "$(vramcalc gpus --format csv 2>/dev/null | tail -n +2 | cut -d, -f1)" -- "$cur")); return ;;
    --precision) COMPREPLY=($(compgen -W "fp32 amp mixed bf16" -- "$cur")); return ;;
    --optimizer) COMPREPLY=($(compgen -W "adamw adamw-fused adamw-8bit sgd sgd-momentum adafactor lion paged-adamw-32bit paged-adamw-8bit ao-adamw-8bit ao-adamw-4bit" -- "$cur")); return ;;
    --attention) COMPREPLY=($(compgen -W "eager sdpa flash2 flash3 sdpa-math flex" -- "$cur")); return ;;
    --grad-ckpt) COMPREPLY=($(compgen -W "none full selective op-sac" -- "$cur")); return ;;
    --lora-targets) COMPREPLY=($(compgen -W "q,v attention mlp all-linear" -- "$cur")); return ;;
    --base-quant) COMPREPLY=($(compgen -W "none nf4 fp4" -- "$cur")); return ;;
    --lora-dtype) COMPREPLY=($(compgen -W "fp32 bf16" -- "$cur")); return ;;
    --loss) COMPREPLY=($(compgen -W "full chunked fused vocab-parallel" -- "$cur")); return ;;
    --fsdp) COMPREPLY=($(compgen -W "1 2" -- "$cur")); return ;;
    --reshard-after-forward) COMPREPLY=($(compgen -W "true false" -- "$cur")); return ;;
    --fsdp-wrap) COMPREPLY=($(compgen -W "blocks none" -- "$cur")); return ;;
    --param-dtype|--reduce-dtype) COMPREPLY=($(compgen -W "bf16 fp32" -- "$cur")); return ;;
    --mask) COMPREPLY=($(compgen -W "causal explicit" -- "$cur")); return ;;
    --head) COMPREPLY=($(compgen -W "lm mlm seq-cls" -- "$cur")); return ;;
    --kernels) COMPREPLY=($(compgen -W "hf liger" -- "$cur")); return ;;
    --compile) COMPREPLY=($(compgen -W "none model blocks blocks-eager-loss" -- "$cur")); return ;;
    --fp8) COMPREPLY=($(compgen -W "none tensorwise rowwise delayed" -- "$cur")); return ;;
    --fp8-all-gather) COMPREPLY=($(compgen -W "on off" -- "$cur")); return ;;
    --kv-dtype) COMPREPLY=($(compgen -W "auto bf16 fp16 fp32 fp8" -- "$cur")); return ;;
    --zero) COMPREPLY=($(compgen -W "0 1 2 3" -- "$cur")); return ;;
    --offload-optimizer|--offload-params) COMPREPLY=($(compgen -W "none cpu nvme" -- "$cur")); return ;;
    --load-dtype) COMPREPLY=($(compgen -W "auto fp32 bf16 fp16" -- "$cur")); return ;;
    --megatron-optimizer) COMPREPLY=($(compgen -W "none ddp distributed" -- "$cur")); return ;;
    --pp-schedule) COMPREPLY=($(compgen -W "1f1b gpipe interleaved" -- "$cur")); return ;;
    --tp|--cp|--pp|--microbatches|--virtual-stages) return ;;
    --ep|--moe-imbalance|--moe-capacity-factor) return ;;
    --interconnect) COMPREPLY=($(compgen -W "auto nvlink pcie ib efa" -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "table json csv markdown svg html" -- "$cur")); return ;;
    --units) COMPREPLY=($(compgen -W "gib gb" -- "$cur")); return ;;
    --color) COMPREPLY=($(compgen -W "auto always never" -- "$cur")); return ;;
    -s|--seq|-b|--batch|--grad-accum|--loss-chunks|--gpu-mem|--cuda-context|--fragmentation|--gpus|--gpus-per-node|--nccl-channels|--cpu-mem|--nodes|--ac-every)
      return ;;
  esac
  local command=estimate word
  for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$word" in models|gpus|recipes|deepspeed-estimate|estimate|fit|sweep) command=$word; break ;; esac
  done
  case "$command" in
    models|gpus|recipes) COMPREPLY=($(compgen -W "$output" -- "$cur")) ;;
    deepspeed-estimate) COMPREPLY=($(compgen -W "--model --gpus-per-node --nodes $output" -- "$cur")) ;;
    *)
      if [ "$COMP_CWORD" -eq 1 ] && [[ "$cur" != -* ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "$estimate $output" -- "$cur"))
      fi ;;
  esac
}
complete -F _vramcalc vramcalc
