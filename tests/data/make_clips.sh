#!/usr/bin/env bash
# Regenerates the committed test clips. Needs espeak-ng, sox and ffmpeg (Debian packages).
# The tests read the committed files, so running the tests does not need these tools.
set -euo pipefail
cd "$(dirname "$0")"

speak() {  # speak VOICE NAME TEXT: 16 kHz mono WAV plus its reference transcript
  local voice=$1 name=$2 text=$3
  espeak-ng -v "$voice" -s 150 -w "/tmp/$name.raw.wav" "$text"
  sox "/tmp/$name.raw.wav" -r 16000 -c 1 -b 16 "$name.wav"
  rm -f "/tmp/$name.raw.wav"
  printf '%s\n' "$text" > "$name.txt"
}

speak en-us en_short "The quick brown fox jumps over the lazy dog."
speak en-us en_numbers "Please call me back tomorrow morning at nine o'clock."
speak en-us en_30s "Speech recognition has come a long way in the last few years. \
Modern systems can transcribe meetings, lectures and interviews with very few mistakes. \
Running these models in the cloud is easy, but paying for a graphics card that sits idle \
all night is not. Asynchronous inference lets the endpoint scale down to zero when the \
queue is empty, and scale up again when new work arrives. \
This makes it a good fit \
for large batches of audio files that do not need an answer within a second."
speak de de_short "Guten Morgen. Das Wetter ist heute sehr schön, und wir gehen in den Park."

ffmpeg -loglevel error -y -i en_short.wav -codec:a libmp3lame -b:a 32k en_short.mp3
cp en_short.txt en_short.mp3.txt

sox -n -r 16000 -c 1 -b 16 silence.wav trim 0.0 3.0
printf '\n' > silence.txt

# A file that claims to be MP3 but holds no decodable audio.
head -c 4096 /dev/zero | tr '\0' 'x' > corrupt.mp3
ls -la
