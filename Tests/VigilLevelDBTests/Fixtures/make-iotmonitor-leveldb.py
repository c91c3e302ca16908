import plyvel, json, base64, random, sys
path = sys.argv[1]; n = int(sys.argv[2]); seed = int(sys.argv[3])
rnd = random.Random(seed)
# iotmonitor's options (leveldb clamps write_buffer_size to 64 KiB at least)
db = plyvel.DB(path, create_if_missing=True, block_size=1024, block_restart_interval=4, write_buffer_size=1000, max_open_files=10, lru_cache_size=4096)
for i in range(n):
    t = f"home/device{i % 97}/state/item{i}".encode()
    v = json.dumps({"on": i % 2 == 0, "level": i, "name": f"dev-{i}"}).encode()
    db.put(t, v)
for i in range(0, n, 7):
    db.put(f"home/device{i % 97}/state/item{i}".encode(), f"overwritten-{i}".encode())
for i in range(3, n, 11):
    db.delete(f"home/device{i % 97}/state/item{i}".encode())
db.put(b"home/binary/state", bytes(range(256)))
db.put(b"home/empty/state", b"")
db.close()
import shutil
shutil.copytree(path, path + ".check")
db = plyvel.DB(path + ".check")
out = [[base64.b64encode(k).decode(), base64.b64encode(v).decode()] for k, v in db]
db.close()
json.dump(out, open(sys.argv[4], "w"))
print(len(out))
