/**
 * The bench the fabric guest tests export (test/vm/fabric-attach*.test.ts): place "bench", one
 * board with a CDC-ACM console and a mass-storage disk backed by a random image. Node built-ins only.
 */
import { createHash, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const BENCH_PLACES = `
name = "host"
[[place]]
name = "bench"
  [[place.part]]
  name = "board"
    [[place.part.interface]]
    name = "console"
    model = "cdc-acm"
    [[place.part.interface]]
    name = "disk"
    model = "mass-storage"
    image = "disk.img"
`

/** Writes `dir`/places.toml and a random `dir`/disk.img of `imageMiB`; the image's sha256 (hex). */
export async function writeBench(dir: string, imageMiB: number): Promise<string> {
  const image = randomBytes(imageMiB * 1024 * 1024)
  await writeFile(join(dir, 'disk.img'), image)
  await writeFile(join(dir, 'places.toml'), BENCH_PLACES)
  return createHash('sha256').update(image).digest('hex')
}
