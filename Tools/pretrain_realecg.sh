#!/usr/bin/env bash
# The Swift side of the real pretraining run of issue 5: CLEF-small, InfoNCE (T=0.07), lr 1e-3,
# 32 pairs, 1500 steps, 100 steps per epoch, on the same records as
# ../shared/oracle/pretrain_realecg.py (its record order; every 5th record held back).
#   bash Tools/pretrain_realecg.sh [OUT_DIR] [DATA_DIR] [extra clef train options...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/realecg}"; data="${2:-../shared/data/ecg}"; shift 2 || shift $#
recs=( $(ls "$data"/cinc2021/*.hea | sort) "$data/ptbdb/s0010_re" "$data/ptbdb/s0015lre" "$data/ludb/1"
       "$data/cpsc2021/data_101_6" "$data/cpsc2021/data_84_1" "$data/cpsc2021/data_21_7"
       $(ls "$data"/cinc2017/*.hea | sort) "$data/mitdb/100" "$data/mitdb/208" "$data/mitdb/221" )
train=()
for i in "${!recs[@]}"; do (( i % 5 != 0 )) && train+=( --data "${recs[$i]%.hea}" ); done
swift build -c release --product clef >/dev/null
exec .build/release/clef train "${train[@]}" --noise "$data/nstdb/bw" --noise "$data/nstdb/ma" \
  --loss infonce --lr 1e-3 --batch 32 --steps 1500 --steps-per-epoch 100 --seed 11 --out "$out" "$@"
