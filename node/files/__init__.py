"""The files kernel: what robots and users upload for runs (stored once by SHA-256 in
``common.files``), signed download links, and users' personal folders (个人文件夹) that robots fill
for the user who started their run. The design center shows the folders; the hub takes the uploads.
"""
